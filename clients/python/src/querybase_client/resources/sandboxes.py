"""Sandboxes: private writable copies of a source where writes run at once."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from querybase_client.errors import SandboxStillCopying, SourceUnavailableError
from querybase_client.models import ApprovalRequest, Sandbox
from querybase_client.resources.base import Resource
from querybase_client.resources.datasources import DataSources, SourceRef
from querybase_client.transport import WAITING_TIMEOUT, Transport

# How often `wait` looks at a sandbox being copied: copies take seconds to minutes.
POLL_INTERVAL_SECONDS = 0.5


class Sandboxes(Resource):
    def __init__(
        self,
        transport: Transport,
        datasources: DataSources,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(transport)
        self._datasources = datasources
        self._clock = clock
        self._sleep = sleep

    def list(self, *, datasource: SourceRef | None = None, state: str | None = None) -> list[Sandbox]:
        """The user's sandboxes (an administrator's: every one), failed ones included."""
        params = {
            "datasource": self._datasources.id_of(datasource) if datasource is not None else None,
            "state": state,
        }
        return [Sandbox.from_api(item) for item in self._transport.paginate("/sandboxes", params=params)]

    def get(self, sandbox_id: int) -> Sandbox:
        return Sandbox.from_api(self._transport.request("GET", f"/sandboxes/{sandbox_id}"))

    def mine(self, source: SourceRef, *, background: bool = True) -> Sandbox:
        """The user's sandbox on `source`: theirs, a pooled copy, or a new copy. With
        `background` (the default) a copy to make is made by a worker and the sandbox comes
        back `creating` at once: follow it with `wait`. A failed one is never returned:
        asking again makes a new copy."""
        answer = self._transport.request(
            "POST",
            f"/datasources/{self._datasources.id_of(source)}/sandbox",
            params={"background": background},
            timeout=WAITING_TIMEOUT,
        )
        return Sandbox.from_api(answer)

    def wait(
        self,
        sandbox_id: int,
        *,
        timeout: float | None = None,
        on_progress: Callable[[Sandbox], None] | None = None,
    ) -> Sandbox:
        """Look at a sandbox until it is no longer being copied; `on_progress` is called with
        each look. A copy that failed raises SourceUnavailableError (`sandbox_unavailable`,
        what the server answers when a copy made in the request fails) with its reason;
        `timeout` (seconds) raises SandboxStillCopying, the copy still going."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            sandbox = self.get(sandbox_id)
            if on_progress is not None:
                on_progress(sandbox)
            if sandbox.state == "failed":
                raise SourceUnavailableError(
                    sandbox.error_message or "The sandbox could not be copied.",
                    code="sandbox_unavailable",
                    status=502,
                    details={"sandbox": sandbox.id},
                )
            if sandbox.state != "creating":
                return sandbox
            if deadline is not None and self._clock() >= deadline:
                raise SandboxStillCopying(sandbox)
            self._sleep(POLL_INTERVAL_SECONDS)

    def reset(self, sandbox_id: int) -> Sandbox:
        """A fresh copy of the current golden copy; what was done in the sandbox is gone."""
        return Sandbox.from_api(
            self._transport.request("POST", f"/sandboxes/{sandbox_id}/reset", timeout=WAITING_TIMEOUT)
        )

    def delete(self, sandbox_id: int) -> None:
        """Drop the copy for real (or dismiss a failed one)."""
        self._transport.request("DELETE", f"/sandboxes/{sandbox_id}", timeout=WAITING_TIMEOUT)

    def upload(
        self, sandbox_id: int, path: str | os.PathLike, *, table: str = "", preview: bool = False
    ) -> dict[str, Any]:
        """A CSV file into the sandbox as the new table `table`. With `preview`, nothing is
        made: the answer is the columns and inferred types, the first rows and the lines
        that would be left out (`errors`, each with its `line`). The import answers the same
        with `rows_loaded`."""
        file = Path(path)
        with file.open("rb") as content:
            files = {"file": (file.name, content, "text/csv")}
            if preview:
                return self._transport.request(
                    "POST", f"/sandboxes/{sandbox_id}/uploads/preview", files=files, timeout=WAITING_TIMEOUT
                )
            return self._transport.request(
                "POST", f"/sandboxes/{sandbox_id}/uploads", files=files, data={"table": table}, timeout=WAITING_TIMEOUT
            )

    def promote(self, sandbox_id: int, reason: str, *, runs: list[str] | None = None) -> ApprovalRequest:
        """The sandbox's writes since it was made or reset (or the runs named), in order, as
        one approval request on the real source, with what they did in the sandbox."""
        body: dict[str, Any] = {"reason": reason}
        if runs is not None:
            body["runs"] = runs
        return ApprovalRequest.from_api(self._transport.request("POST", f"/sandboxes/{sandbox_id}/promote", json=body))
