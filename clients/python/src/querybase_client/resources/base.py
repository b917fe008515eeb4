"""What every group of endpoints shares: the transport it calls through."""

from __future__ import annotations

from querybase_client.transport import Transport


class Resource:
    """One group of endpoints (`client.queries`, `client.approvals`, …).

    New groups are added as one more subclass in this package
    and one more attribute in `QueryBaseClient.__init__`; nothing else changes.
    """

    def __init__(self, transport: Transport):
        self._transport = transport
