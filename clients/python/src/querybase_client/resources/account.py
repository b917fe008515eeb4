"""The signed-in user and their API keys."""

from __future__ import annotations

from querybase_client.models import ApiKey, Profile
from querybase_client.resources.base import Resource


class Account(Resource):
    def me(self) -> Profile:
        return Profile.from_api(self._transport.request("GET", "/auth/me"))

    def api_keys(self) -> list[ApiKey]:
        return [ApiKey.from_api(item) for item in self._transport.paginate("/auth/api-keys")]

    def create_api_key(self, name: str) -> ApiKey:
        """A new key for scripts; its `key` is shown this once and never again."""
        return ApiKey.from_api(self._transport.request("POST", "/auth/api-keys", json={"name": name}))

    def revoke_api_key(self, api_key_id: int) -> None:
        self._transport.request("DELETE", f"/auth/api-keys/{api_key_id}")
