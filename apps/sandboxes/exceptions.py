"""What the sandbox use cases refuse, each with a stable code and HTTP status."""

from querybase.errors import QueryBaseError


class SandboxError(QueryBaseError):
    code = "sandbox_error"


class SandboxNotFound(SandboxError):
    code = "sandbox_not_found"


class SandboxesDisabled(SandboxError):
    code = "sandboxes_disabled"


class NotSandboxOwner(SandboxError):
    """Only the owner runs SQL in, resets or shares their sandbox."""

    code = "not_sandbox_owner"


class SandboxNotReady(SandboxError):
    code = "sandbox_not_ready"


class SandboxOfAnotherSource(SandboxError):
    code = "sandbox_of_another_source"


class SandboxWriteRefused(SandboxError):
    """A statement of a kind the source's sandboxes do not run, or one that could reach
    beyond the copy."""

    code = "sandbox_write_refused"


class SandboxUnavailable(SandboxError):
    """The sandbox server or the source failed while a copy was made or dropped."""

    code = "sandbox_unavailable"


class SandboxRightsMissing(SandboxError):
    """The copy-making credentials may not create the restricted login sandboxes run
    users' SQL as; the message names the right. A configuration to fix, not a retry."""

    code = "sandbox_rights_missing"


class NothingToPromote(SandboxError):
    """A promotion of a sandbox with no successful writes since it was made or reset."""

    code = "nothing_to_promote"


class PromotionRefused(SandboxError):
    """The writes named cannot become one approval request as they are."""

    code = "promotion_refused"


class UploadRefused(SandboxError):
    """A file that cannot become a table as it is (not UTF-8 CSV, no header, rows that do not load)."""

    code = "upload_refused"


class UploadTooLarge(SandboxError):
    code = "upload_too_large"


class NotARead(SandboxError):
    """An export in a sandbox of SQL that is not a read: exports only read."""

    code = "not_a_read"


class SandboxRowsGone(SandboxError):
    """A run made in a sandbox whose copy was reset or dropped since: the rows it read are
    no longer anywhere, and nothing else is exported in their place."""

    code = "sandbox_rows_gone"
