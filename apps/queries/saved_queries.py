"""Use cases for saved queries: owning, sharing with groups and by link."""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from apps.accounts import policy
from apps.audit.services import record_event
from apps.datasources.access import Action, datasources_visible_to, user_may
from apps.queries.exceptions import SavedQueryNotFound, SharedQueryNotReadable
from apps.queries.models import SavedQuery, new_share_token
from querybase.errors import InvalidInput, NotAllowed
from querybase.types import AnyUser, ClientRequest


def _check_fields(owner: User, fields: dict[str, Any], saved: SavedQuery | None = None) -> None:
    name = fields.get("name")
    if name is not None:
        clash = SavedQuery.objects.filter(owner=owner, name=name)
        if saved is not None:
            clash = clash.exclude(pk=saved.pk)
        if clash.exists():
            raise InvalidInput("You already have a saved query with this name.", details={"name": ["Already used."]})
    datasource = fields.get("datasource")
    if datasource is not None and not datasources_visible_to(owner).filter(pk=datasource.pk).exists():
        raise InvalidInput("You have no rights on this data source.", details={"datasource": ["Not available."]})
    _check_sandbox(owner, fields, saved)
    groups = fields.get("shared_with_groups")
    if groups and not policy.may_share_with_any_group(owner):
        own_groups = set(owner.groups.values_list("pk", flat=True))
        if any(group.pk not in own_groups for group in groups):
            raise InvalidInput(
                "You can share only with groups you belong to.", details={"shared_with_groups": ["Not your group."]}
            )


def _check_sandbox(owner: User, fields: dict[str, Any], saved: SavedQuery | None) -> None:
    """A saved query may point only at its owner's own sandbox, of its own source."""
    sandbox = fields.get("sandbox", saved.sandbox if saved else None)
    if sandbox is None:
        return
    datasource = fields.get("datasource") or (saved.datasource if saved else None)
    if sandbox.owner_id != owner.pk or sandbox.state in ("deleted", "expired", "failed"):
        raise InvalidInput("You can point a saved query only at your own sandbox.", details={"sandbox": ["Not yours."]})
    if datasource is not None and sandbox.datasource_id != datasource.pk:
        raise InvalidInput(
            "This sandbox is a copy of another data source.", details={"sandbox": ["Of another data source."]}
        )


@transaction.atomic
def save_query(owner: User, *, fields: dict[str, Any], request: ClientRequest | None = None) -> SavedQuery:
    _check_fields(owner, fields)
    groups = fields.pop("shared_with_groups", [])
    saved = SavedQuery.objects.create(owner=owner, **fields)
    saved.shared_with_groups.set(groups)
    record_event("saved_query.create", actor=owner, target=saved, request=request)
    return saved


@transaction.atomic
def update_saved_query(
    saved: SavedQuery, *, user: User, fields: dict[str, Any], request: ClientRequest | None = None
) -> SavedQuery:
    _require_owner(saved, user)
    _check_fields(user, fields, saved)
    groups = fields.pop("shared_with_groups", None)
    for name, value in fields.items():
        setattr(saved, name, value)
    saved.save()
    if groups is not None:
        saved.shared_with_groups.set(groups)
    record_event("saved_query.update", actor=user, target=saved, request=request, detail={"changed": sorted(fields)})
    return saved


@transaction.atomic
def delete_saved_query(saved: SavedQuery, *, user: User, request: ClientRequest | None = None) -> None:
    _require_owner(saved, user)
    record_event("saved_query.delete", actor=user, target=saved, request=request, detail={"name": saved.name})
    saved.delete()


def create_share_link(saved: SavedQuery, *, user: User, request: ClientRequest | None = None) -> SavedQuery:
    """A new unguessable link; an older one stops working."""
    _require_owner(saved, user)
    saved.share_token = new_share_token()
    saved.save(update_fields=["share_token", "updated_at"])
    record_event("saved_query.share_link", actor=user, target=saved, request=request)
    return saved


def revoke_share_link(saved: SavedQuery, *, user: User, request: ClientRequest | None = None) -> SavedQuery:
    _require_owner(saved, user)
    saved.share_token = None
    saved.save(update_fields=["share_token", "updated_at"])
    record_event("saved_query.unshare_link", actor=user, target=saved, request=request)
    return saved


def shared_query(user: AnyUser, token: str) -> SavedQuery:
    """The saved query a share link leads to, for a user who may read its source now. The
    link gives the text (and name, description, owner) only to readers of the source, as
    the API's rows are; anyone else learns only which source to ask rights on."""
    saved = SavedQuery.objects.select_related("owner", "datasource").filter(share_token=token).first()
    if saved is None or not token:
        raise SavedQueryNotFound("This link does not lead to a saved query (it may have been revoked).")
    if not user_may(user, Action.READ, saved.datasource):
        raise SharedQueryNotReadable(
            f"You may not read the data source {saved.datasource.name}, so the query shared by this link is "
            "not shown to you: ask an administrator for access.",
            datasource=saved.datasource,
        )
    return saved


def _require_owner(saved: SavedQuery, user: User) -> None:
    if saved.owner_id != user.pk:
        raise NotAllowed("Only the owner may change this saved query.")
