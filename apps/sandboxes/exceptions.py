"""What the sandbox use cases refuse, each with a stable code and HTTP status."""

from querybase.errors import QueryBaseError


class SandboxError(QueryBaseError):
    code = "sandbox_error"
    status = 400


class SandboxNotFound(SandboxError):
    code = "sandbox_not_found"
    status = 404


class SandboxesDisabled(SandboxError):
    code = "sandboxes_disabled"
    status = 409


class NotSandboxOwner(SandboxError):
    """Only the owner runs SQL in, resets or shares their sandbox."""

    code = "not_sandbox_owner"
    status = 403


class SandboxNotReady(SandboxError):
    code = "sandbox_not_ready"
    status = 409


class SandboxOfAnotherSource(SandboxError):
    code = "sandbox_of_another_source"
    status = 400


class SandboxWriteRefused(SandboxError):
    """A statement of a kind the source's sandboxes do not run, or one that could reach
    beyond the copy."""

    code = "sandbox_write_refused"
    status = 403


class SandboxUnavailable(SandboxError):
    """The sandbox server or the source failed while a copy was made or dropped."""

    code = "sandbox_unavailable"
    status = 502
