"""Each user's rights, kept in the cache (Redis) so that deciding them costs no SQL query.

A *rights map* holds what the read path needs to know about a user: the user row (less
the password hash) for authentication, and the actions granted on each active source.
It is kept for RIGHTS_TTL_SECONDS under the *rights epoch* current when it was read from
the database; one MGET fetches the map with the current epoch, and a map of another epoch
is not used. The same MGET fetches whether the JWT family of the token presented was
ended (`end_token_family`): its access tokens are refused at once, at no extra round trip.
Any change to what rights derive from (a user, a group, a membership, a
permission, a source) replaces the epoch (`forget_all`, called by the signals in
apps/datasources/signals.py): every map is stale at once.

The epoch is replaced when the change is made *and* again when its transaction commits:
a request that read the database between the two would otherwise store the old rights
under the new epoch. A map is stored under the epoch read *before* the database, so a
change committed meanwhile always makes it stale.

Sources are kept per process, not in the cache (their rows hold encrypted credentials,
which stay in the database): a source object is reused while the epoch it was read under
is current, so an edited source is read again after any change.
"""

import threading
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from apps.datasources.models import DataSource, DataSourcePermission

RIGHTS_TTL_SECONDS = 15 * 60
_EPOCH_KEY = "rights-epoch"
# Versioned: a map stored by a release with another RightsMap shape is never read.
_MAP_KEY = "rights:v4:{}"
# One key per ended JWT family (user id, family), written without reading: one set of the
# user's ended families, read and written back, lost one of two families ended at the same
# moment, whose access tokens then lived on. Kept as long as an access token lives: by
# then every access token of an ended family has expired, and its refresh tokens are
# blacklisted.
_ENDED_FAMILY_KEY = "jwt-family-ended:{}:{}"
# The user row as authentication needs it; the password hash stays in the database (read
# on demand, as a deferred field, by whatever needs it).
_USER_FIELDS = (
    "id",
    "last_login",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)
# What a request already looked up, on the user object it authenticated.
_ATTACHED = "_querybase_rights_map"


@dataclass(frozen=True)
class RightsMap:
    epoch: str
    user: dict[str, Any]
    rights: dict[int, frozenset[str]]
    # A digest of the password hash, never the hash: what a JWT of this user must carry
    # (apps/accounts/tokens.py), so a password change ends the tokens issued before it.
    password_fingerprint: str
    # Whether the JWT family of the token it was fetched for was ended for a reused refresh
    # token: not stored with the map (a new map would lose it) but fetched with it.
    token_family_ended: bool = False

    def on(self, datasource_id: int) -> frozenset[str]:
        return self.rights.get(datasource_id, frozenset())


def password_fingerprint(password_hash: str) -> str:
    """What a JWT carries of its user's password hash: the digest simplejwt's `for_user`
    writes into the token's REVOKE_TOKEN_CLAIM (settings: CHECK_REVOKE_TOKEN)."""
    return get_md5_hash_password(password_hash)


def forget_all() -> None:
    """What rights derive from changed: no map read before now is used again."""
    _new_epoch()
    # on_commit runs at once outside a transaction; inside one, again after COMMIT.
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_new_epoch)


def _new_epoch() -> None:
    cache.set(_EPOCH_KEY, uuid.uuid4().hex, timeout=None)


def _current_epoch(found: str | None) -> str:
    if found is not None:
        return found
    # Lost (flushed, evicted): a new one, so no map stored before can match it.
    fresh = uuid.uuid4().hex
    return fresh if cache.add(_EPOCH_KEY, fresh, timeout=None) else (cache.get(_EPOCH_KEY) or fresh)


def end_token_family(user_id: int, family: str) -> None:
    """Refuse the access tokens of `family` (apps/accounts/tokens.py) from now on."""
    lifetime = int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60  # + clock skew
    cache.set(_ENDED_FAMILY_KEY.format(user_id, family), True, lifetime)


def rights_map(user_id: int, token_family: str = "") -> RightsMap | None:
    """The user's rights map: one cache round trip when warm, else read from the database
    and kept. None if there is no such user. With the JWT family of the token presented,
    the map says whether that family was ended (`token_family_ended`)."""
    map_key = _MAP_KEY.format(user_id)
    family_key = _ENDED_FAMILY_KEY.format(user_id, token_family) if token_family else None
    found = cache.get_many([map_key, _EPOCH_KEY] if family_key is None else [map_key, _EPOCH_KEY, family_key])
    epoch = _current_epoch(found.get(_EPOCH_KEY))
    stored = found.get(map_key)
    if stored is None or stored.epoch != epoch:
        stored = _read_rights_map(user_id, epoch)
        if stored is not None:
            cache.set(map_key, stored, RIGHTS_TTL_SECONDS)
    ended = family_key is not None and found.get(family_key) is not None
    return replace(stored, token_family_ended=True) if stored is not None and ended else stored


def _read_rights_map(user_id: int, epoch: str) -> RightsMap | None:
    row = get_user_model().objects.filter(pk=user_id).values(*_USER_FIELDS, "password").first()
    if row is None:
        return None
    fingerprint = password_fingerprint(row.pop("password"))
    rights: dict[int, set[str]] = {}
    if row["is_active"]:
        grants = DataSourcePermission.objects.filter(group__user=user_id, datasource__is_active=True).order_by()
        for datasource_id, *flags in grants.values_list("datasource_id", "can_read", "can_write", "can_approve"):
            granted = {name for name, on in zip(("read", "write", "approve"), flags, strict=True) if on}
            rights.setdefault(datasource_id, set()).update(granted)
    return RightsMap(
        epoch=epoch,
        user=row,
        rights={datasource_id: frozenset(actions) for datasource_id, actions in rights.items() if actions},
        password_fingerprint=fingerprint,
    )


def user_of(found: RightsMap):
    """The user row of a rights map (the password hash deferred), with the map attached
    so the request's rights need no second look."""
    model = get_user_model()
    user = model.from_db("default", list(found.user), list(found.user.values()))
    setattr(user, _ATTACHED, found)
    return user


def rights_of(user: User) -> RightsMap | None:
    """The rights map of an authenticated `user`: the one fetched with the user when the
    request authenticated (`user_of`, an object that lives as long as its request),
    else from the cache. Never kept on other user objects: they may outlive a change."""
    attached = getattr(user, _ATTACHED, None)
    return attached if attached is not None else rights_map(user.pk)


# Source id → (epoch, its column values): one row per source, whatever the users.
_sources: dict[int, tuple[str, dict[str, Any]]] = {}
_sources_lock = threading.Lock()


def datasource(datasource_id: int, epoch: str) -> DataSource | None:
    """The active source, read from the database at most once per rights epoch in this
    process; each caller gets an object of its own (callers may set attributes on it)."""
    with _sources_lock:
        kept = _sources.get(datasource_id)
    if kept is None or kept[0] != epoch:
        row = DataSource.objects.filter(pk=datasource_id, is_active=True).values().first()
        if row is None:
            return None
        values: dict[str, Any] = dict(row)
        with _sources_lock:
            _sources[datasource_id] = (epoch, values)
    else:
        values = kept[1]
    return DataSource.from_db("default", list(values), list(values.values()))
