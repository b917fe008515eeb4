"""Every object QueryBase serves is served only to who may see it: each route of the URL
configuration, for each method, asked by each kind of user about one analyst's objects
(docs/architecture.md, sections 1 and 6, and the policy modules it names).

The routes come from the URL configuration itself, so a route or a method added later
without a row in the matrix (or in `NOT_OBJECT_SCOPED`, with its reason) fails
`test_every_route_is_in_the_matrix`. Where the rules say "not yours", the answer must be
the one a random id gets (same status, same body) and carry none of the owner's SQL, rows
or names: it must not even confirm that the object exists.

The objects are made once per test, on the real databases: a sandboxed SQLite source,
an analyst's run, saved query (shared with a group, and by link), write request,
sandbox, notification and API key. The JSON API is asked with JWT and with API keys, the
dashboard with a session; the dashboard's pages follow the API's rules (same actors).

What it found, fixed where each rule is kept: a share link gave a saved query's SQL to
any signed-in user (API and page), and sharing with a group gave it to members who may
not read the source (`apps/queries/saved_queries.shared_query`, `selectors.saved_queries_for`);
another user's sandbox answered 403 where an unknown id answers 404, confirming it exists
(`apps/sandboxes/selectors.refusal_for_non_owner`); the export of a run one may see but
whose source one may no longer read answered 404 "no data source" rather than the run's
own 403 (`apps/submissions/exports.export_run`).
"""

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from apps.accounts.services import issue_api_key
from apps.datasources.models import DataSourcePermission
from apps.notifications.models import Channel, Notification
from apps.queries.models import SavedQuery
from apps.sandboxes.lifecycle import sandbox_for
from tests.support.accounts import token_pair
from tests.support.audit import make_auditor
from tests.support.factories import grant, make_datasource, make_group, make_user
from tests.support.sandboxes import sandbox_source

ON_THE_DATABASES = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

# The actors ------------------------------------------------------------------------------------

OWNER = "owner_ada"  # an analyst (read and request writes on the source) who owns the objects
PEER = "peer_ben"  # same group as the owner: the same rights on the source
READER = "reader_cy"  # another group that may read the source
OUTSIDER = "outsider_dan"  # no right on the source; shares a group without rights with the owner
APPROVER = "approver_eve"  # may approve (and read) on the source
AUDITOR = "auditor_fay"  # the auditor right, no right on the source
STAFF = "staff_gus"  # an admin (staff, superuser) without any right on the source
INACTIVE = "inactive_hal"  # the owner's group, deactivated after signing in
REVOKED = "revoked_ivy"  # read and write on the source when making objects of their own, then revoked

ACTORS = (OWNER, PEER, READER, OUTSIDER, APPROVER, AUDITOR, STAFF, INACTIVE, REVOKED)
READERS_OF_SOURCE = frozenset({OWNER, PEER, READER, APPROVER})
# Own requests, and requests on sources one approves; admins see every request.
SEE_REQUEST = frozenset({OWNER, APPROVER, STAFF})

# Everything the owner's objects hold: none of it may reach someone they are hidden from.
MARK = "ada_"
RUN_SQL = "SELECT name AS ada_run_column FROM customers WHERE id <= 3"
ROWS_MARK = "customer 1"
SAVED_SQL = "SELECT id AS ada_saved_column FROM orders"
WRITE_SQL = "UPDATE customers SET name = 'ada_write_value' WHERE id = 1"
# The revoked user's own objects: nothing of the owner's in them.
IVY_READ, IVY_WRITE = "SELECT id AS ivy_column FROM customers", "DELETE FROM orders WHERE id = 1"
SOURCE_NAME = "source_of_ada"
CSV = b"id,label\n1,ada_upload\n"

# Routes that serve no object of someone else's, each with the reason. Reviewed: a route
# added to this list must say why it cannot leak an object.
NOT_OBJECT_SCOPED = {
    ("api/v1/auth/token", "post"): "sign-in: answers tokens for the password given, nothing else",
    ("api/v1/auth/token/refresh", "post"): "exchanges the caller's own refresh token (its own tests)",
    ("api/v1/auth/me", "get"): "the caller themselves",
    ("api/v1/auth/api-keys", "post"): "makes a key for the caller",
    ("api/v1/notifications/unread-count", "get"): "a count of the caller's own inbox",
    ("api/v1/notifications/read-all", "post"): "marks the caller's own inbox (services.inbox)",
    ("api/v1/events", "get"): "the caller's own stream, of ids and statuses only (section 8b); tests/live",
    ("api/v1/datasources$", "post"): "creates a source: data source administrators only (tests/datasources)",
    ("api/v1/saved-queries$", "post"): "saves the caller's query, on a source they have rights on (tests/queries)",
    ("login/", "get"): "public: the sign-in page",
    ("login/", "post"): "public: signing in",
    ("login/", "put"): "public: Django's form view takes PUT as it takes POST",
    ("logout/", "post"): "ends the caller's own session",
    ("admin/", "get"): "Django admin: staff only, by Django's own checks; staff administers everything there",
    ("health", "get"): "public: liveness",
    ("version", "get"): "public: the version",
    ("favicon.ico", "get"): "public: a redirect to the site's icon",
    ("api/schema/", "get"): "public: the OpenAPI document",
    ("api/docs/", "get"): "public: the API's documentation page",
}


# The world -------------------------------------------------------------------------------------


@dataclass
class World:
    """The actors and the owner's objects, by name; `ids` fill the cases' paths."""

    users: dict
    ids: dict
    fresh: dict[str, Callable[[], object]] = field(default_factory=dict)


def build_world(request) -> World:
    source = sandbox_source("sqlite", request)
    source.name = SOURCE_NAME
    source.save()
    analysts, readers, approvers = make_group("analysts"), make_group("readers"), make_group("approvers")
    everyone, former = make_group("everyone, no rights"), make_group("former analysts")
    grant(analysts, source, read=True, write=True)
    grant(readers, source, read=True)
    grant(approvers, source, read=True, approve=True)
    grant(former, source, read=True, write=True)
    users = {
        OWNER: make_user(OWNER, groups=(analysts, everyone)),
        PEER: make_user(PEER, groups=(analysts,)),
        READER: make_user(READER, groups=(readers,)),
        OUTSIDER: make_user(OUTSIDER, groups=(everyone,)),
        APPROVER: make_user(APPROVER, groups=(approvers,)),
        AUDITOR: make_auditor(AUDITOR),
        STAFF: make_user(STAFF, is_admin=True),
        INACTIVE: make_user(INACTIVE, groups=(analysts,)),
        REVOKED: make_user(REVOKED, groups=(former,)),
    }
    owner = _client_signed_in_as(users[OWNER])

    run = _ok(owner.post("/api/v1/queries", {"datasource": source.pk, "sql": RUN_SQL, "wait": 10}, format="json"))
    assert ROWS_MARK in json.dumps(run["result"]["rows"])

    def saved_query() -> int:
        body = {
            "name": f"ada_saved {uuid.uuid4().hex[:8]}",
            "datasource": source.pk,
            "sql": SAVED_SQL,
            "shared_with_groups": [analysts.pk, everyone.pk],
        }
        return _ok(owner.post("/api/v1/saved-queries", body, format="json"))["id"]

    saved = saved_query()
    _ok(owner.post(f"/api/v1/saved-queries/{saved}/share-link"))
    token = SavedQuery.objects.get(pk=saved).share_token

    def write_request() -> int:
        # Each a change of its own: the same one asked for twice while open is refused.
        sql = f"{WRITE_SQL} AND name <> 'n{uuid.uuid4().hex[:8]}'"
        body = {"datasource": source.pk, "sql": sql, "reason": "ada_reason"}
        return _ok(owner.post("/api/v1/queries", body, format="json"))["approval"]["id"]

    def owners_sandbox() -> int:
        return sandbox_for(users[OWNER], source.pk)[0].pk

    def notification() -> int:
        return Notification.objects.create(
            recipient=users[OWNER], channel=Channel.IN_APP, event="approval.decided", title="ada_notification"
        ).pk

    def api_key() -> int:
        return issue_api_key(users[OWNER], name="ada_key").api_key.pk

    def spare_source() -> int:
        return make_datasource(f"spare {uuid.uuid4().hex[:8]}", engine="sqlite", database=source.database).pk

    # The revoked user's own objects, made while they had the rights.
    revoked = _client_signed_in_as(users[REVOKED])
    revoked_run = _ok(
        revoked.post("/api/v1/queries", {"datasource": source.pk, "sql": IVY_READ, "wait": 10}, format="json")
    )
    revoked_request = _ok(
        revoked.post("/api/v1/queries", {"datasource": source.pk, "sql": IVY_WRITE, "reason": "r"}, format="json")
    )["approval"]["id"]
    revoked_saved = _ok(
        revoked.post("/api/v1/saved-queries", {"name": "ivy", "datasource": source.pk, "sql": IVY_READ}, format="json")
    )["id"]
    DataSourcePermission.objects.filter(group=former).delete()

    ids = {
        "source": source.pk,
        "run": run["id"],
        "saved": saved,
        "token": token,
        "request": write_request(),
        "sandbox": owners_sandbox(),
        "notification": notification(),
        "api_key": api_key(),
        "revoked_run": revoked_run["id"],
        "revoked_request": revoked_request,
        "revoked_saved": revoked_saved,
    }
    fresh = {
        "saved": saved_query,
        "request": write_request,
        "sandbox": owners_sandbox,
        "notification": notification,
        "api_key": api_key,
        "source": spare_source,
    }
    return World(users=users, ids=ids, fresh=fresh)


def _client_signed_in_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(client, user.username)['access']}")
    return client


def _ok(response) -> dict:
    assert response.status_code in (200, 201, 202), response.content
    return response.json()


RANDOM_IDS = {
    "source": 987654321,
    "run": "6b1f2d3e-0000-4000-8000-00000000abcd",
    "saved": 987654322,
    "token": "no-such-token-0123456789abcdef0123456789",
    "request": 987654323,
    "sandbox": 987654324,
    "notification": 987654325,
    "api_key": 987654326,
    "revoked_run": "6b1f2d3e-0000-4000-8000-00000000abce",
    "revoked_request": 987654327,
    "revoked_saved": 987654328,
}


CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


# The matrix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One route and method, about one object (the `{name}` in `path`).

    `allowed` get their answer (a 2xx, or one of `ok_statuses`); `refused` may see the
    object but not do this: 403. Everyone else gets what a random id gets, and nothing
    of the owner's. A listing (`listing=True`) answers everyone; only `allowed` find the
    object (`mark`) in it. `fresh`: the allowed act on a new object of the owner's each,
    since the act changes or removes it."""

    method: str
    path: str
    allowed: frozenset
    refused: frozenset = frozenset()
    body: dict | None = None
    multipart: bool = False
    ok_statuses: tuple = ()
    listing: bool = False
    mark: str = MARK
    fresh: bool = False


def case(method, path, allowed=(), refused=(), **options) -> Case:
    return Case(method, path, frozenset(allowed), frozenset(refused), **options)


SOURCE_READ = {"datasource": "{source}", "sql": "SELECT 1 AS one"}
SANDBOX_READ = {**SOURCE_READ, "sandbox": "{sandbox}"}
SAVED_BODY = {"name": "renamed", "datasource": "{source}", "sql": SAVED_SQL}
INDEX_BODY = {"table": "customers", "columns": ["name"]}
SOURCE_ADMIN = {STAFF}
EVERYONE_ELSE = frozenset(ACTORS) - {INACTIVE}
NOT_SOURCE_ADMIN = EVERYONE_ELSE - SOURCE_ADMIN

API_CASES = (
    # Reads and runs: their SQL is the owner's and the admins'; rows need a read right now.
    case("get", "/api/v1/queries/{run}", {OWNER}, {STAFF}),
    case("get", "/api/v1/queries/{run}/results", {OWNER}, {STAFF}),
    case("get", "/api/v1/queries/{run}/export", {OWNER}, {STAFF}),
    case("post", "/api/v1/queries/{run}/cancel", {OWNER}, {STAFF}, ok_statuses=(409,)),
    case("get", "/api/v1/queries/{revoked_run}", set(), {REVOKED, STAFF}),
    case("get", "/api/v1/queries/{revoked_run}/results", set(), {REVOKED, STAFF}),
    case("get", "/api/v1/queries/{revoked_run}/export", set(), {REVOKED, STAFF}),
    case("get", "/api/v1/queries/history", {OWNER, STAFF}, listing=True, mark="ada_run_column"),
    case("get", f"/api/v1/queries/history?user={OWNER}", {OWNER, STAFF}, listing=True, mark="ada_run_column"),
    # SQL given for a source is the source's object: a source one may not read is no source.
    case("post", "/api/v1/queries", READERS_OF_SOURCE, body={**SOURCE_READ, "wait": 10}),
    case("post", "/api/v1/queries/analyze", READERS_OF_SOURCE, body=SOURCE_READ),
    case("post", "/api/v1/queries/export", READERS_OF_SOURCE, body=SOURCE_READ),
    # SQL for a sandbox: its owner's alone (nothing of it is shared with anyone here).
    case("post", "/api/v1/queries", {OWNER}, {STAFF}, body={**SANDBOX_READ, "wait": 10}),
    case("post", "/api/v1/queries/export", {OWNER}, {STAFF}, body=SANDBOX_READ),
    # Saved queries: the owner's, and their groups' who may read the source.
    case("get", "/api/v1/saved-queries", {OWNER, PEER}, listing=True, mark="ada_saved"),
    case("get", "/api/v1/saved-queries/{saved}", {OWNER, PEER}),
    case("put", "/api/v1/saved-queries/{saved}", {OWNER}, {PEER}, body=SAVED_BODY, fresh=True),
    case("patch", "/api/v1/saved-queries/{saved}", {OWNER}, {PEER}, body={"description": "x"}, fresh=True),
    case("delete", "/api/v1/saved-queries/{saved}", {OWNER}, {PEER}, fresh=True),
    case("post", "/api/v1/saved-queries/{saved}/share-link", {OWNER}, {PEER}, fresh=True),
    case("delete", "/api/v1/saved-queries/{saved}/share-link", {OWNER}, {PEER}, fresh=True),
    case("get", "/api/v1/saved-queries/{revoked_saved}", {REVOKED}),
    # A link's holder who may not read the source learns which source to ask rights on, nothing more.
    case("get", "/api/v1/saved-queries/shared/{token}", READERS_OF_SOURCE, EVERYONE_ELSE - READERS_OF_SOURCE),
    # Write requests: the requester's, the source's approvers', the admins'.
    case("get", "/api/v1/approvals", SEE_REQUEST, listing=True, mark="ada_write_value"),
    case("get", "/api/v1/approvals/{request}", SEE_REQUEST),
    case("get", "/api/v1/approvals/{revoked_request}", {REVOKED, APPROVER, STAFF}),
    case("get", "/api/v1/approvals/{request}/presence", SEE_REQUEST),
    case("post", "/api/v1/approvals/{request}/presence", SEE_REQUEST),
    case("delete", "/api/v1/approvals/{request}/presence", SEE_REQUEST),
    case("post", "/api/v1/approvals/{request}/dry-run", {APPROVER}, {OWNER, STAFF}),
    case(
        "post",
        "/api/v1/approvals/{request}/review",
        {APPROVER},
        {OWNER, STAFF},
        body={"decision": "reject", "comment": "no"},
        fresh=True,
    ),
    case("post", "/api/v1/approvals/{request}/cancel", {OWNER}, {APPROVER, STAFF}, fresh=True),
    # Sources: seen by who has a right on them and by their administrators.
    case("get", "/api/v1/datasources", READERS_OF_SOURCE | SOURCE_ADMIN, listing=True, mark=SOURCE_NAME),
    case("get", "/api/v1/datasources/{source}", READERS_OF_SOURCE | SOURCE_ADMIN),
    case("get", "/api/v1/datasources/{source}/schema", READERS_OF_SOURCE, SOURCE_ADMIN),
    case("get", "/api/v1/datasources/{source}/approvers", READERS_OF_SOURCE | SOURCE_ADMIN),
    case("post", "/api/v1/datasources/{source}/sandbox", READERS_OF_SOURCE),
    # Administering a source: refused to all but its administrators, whatever the id.
    case("put", "/api/v1/datasources/{source}", SOURCE_ADMIN, NOT_SOURCE_ADMIN, body={}, ok_statuses=(400,)),
    case(
        "patch",
        "/api/v1/datasources/{source}",
        SOURCE_ADMIN,
        NOT_SOURCE_ADMIN,
        body={"notes": "x"},
        fresh=True,
    ),
    case("delete", "/api/v1/datasources/{source}", SOURCE_ADMIN, NOT_SOURCE_ADMIN, fresh=True),
    case("post", "/api/v1/datasources/{source}/test", SOURCE_ADMIN, NOT_SOURCE_ADMIN),
    case("get", "/api/v1/datasources/{source}/credential-audit", SOURCE_ADMIN, NOT_SOURCE_ADMIN),
    case("get", "/api/v1/datasources/{source}/permissions", SOURCE_ADMIN, NOT_SOURCE_ADMIN),
    case(
        "put",
        "/api/v1/datasources/{source}/permissions",
        SOURCE_ADMIN,
        NOT_SOURCE_ADMIN,
        body={"permissions": []},
        fresh=True,
    ),
    # Sandboxes: their owner's; administrators see and delete them, never use them.
    case("get", "/api/v1/sandboxes", {OWNER, STAFF}, listing=True, mark=OWNER),
    case("get", "/api/v1/sandboxes/{sandbox}", {OWNER, STAFF}),
    case("get", "/api/v1/sandboxes/{sandbox}/schema", {OWNER}, {STAFF}),
    case("post", "/api/v1/sandboxes/{sandbox}/reset", {OWNER}, {STAFF}),
    case(
        "post",
        "/api/v1/sandboxes/{sandbox}/indexes",
        {OWNER},
        {STAFF},
        body=INDEX_BODY,
    ),
    case("post", "/api/v1/sandboxes/{sandbox}/uploads/preview", {OWNER}, {STAFF}, multipart=True),
    case("post", "/api/v1/sandboxes/{sandbox}/uploads", {OWNER}, {STAFF}, multipart=True),
    case("post", "/api/v1/sandboxes/{sandbox}/promote", {OWNER}, {STAFF}, body={"reason": "ada_promote"}),
    case("delete", "/api/v1/sandboxes/{sandbox}", {OWNER, STAFF}, fresh=True),
    # The caller's own: notifications, API keys.
    case("get", "/api/v1/notifications", {OWNER}, listing=True, mark="ada_notification"),
    case("post", "/api/v1/notifications/{notification}/read", {OWNER}, fresh=True),
    case("get", "/api/v1/auth/api-keys", {OWNER}, listing=True, mark="ada_key"),
    case("delete", "/api/v1/auth/api-keys/{api_key}", {OWNER}, fresh=True),
    # The audit log: everyone's for auditors and admins; one's own events for anyone else.
    case("get", f"/api/v1/audit/events?user={OWNER}", {AUDITOR, STAFF, OWNER}, EVERYONE_ELSE - {AUDITOR, STAFF, OWNER}),
    case(
        "get",
        "/api/v1/audit/records?datasource={source}&table=customers",
        {AUDITOR, STAFF},
        EVERYONE_ELSE - {AUDITOR, STAFF},
    ),
    case("get", "/api/v1/audit/search?q=ada_write_value", {AUDITOR, STAFF}, EVERYONE_ELSE - {AUDITOR, STAFF}),
    case("get", "/api/v1/metrics", {STAFF}, EVERYONE_ELSE - {STAFF}),
)

# The dashboard: pages over the same selectors, so the same actors. A page that opens an
# object in the workspace shows its SQL only to who may also query the source there.
PAGE_CASES = (
    case("get", "/?run={run}", {OWNER}, listing=True, mark="ada_run_column"),
    case("get", "/?saved={saved}", {OWNER, PEER}, listing=True, mark="ada_saved"),
    case("get", "/?shared={token}", READERS_OF_SOURCE, listing=True, mark="ada_saved"),
    case("get", "/?request={request}", SEE_REQUEST - {STAFF}, listing=True, mark="ada_write_value"),
    case("get", "/history/", {OWNER, STAFF}, listing=True, mark="ada_run_column"),
    case("get", "/saved/", {OWNER, PEER}, listing=True, mark="ada_saved"),
    case("get", "/shared/{token}/", READERS_OF_SOURCE, EVERYONE_ELSE - READERS_OF_SOURCE),
    case("get", "/approvals/", {APPROVER}, listing=True, mark="ada_write_value"),  # awaiting one's review
    case("get", "/approvals/?tab=mine", {OWNER}, listing=True, mark="ada_write_value"),
    case("get", "/approvals/?tab=all", SEE_REQUEST, listing=True, mark="ada_write_value"),
    case("get", "/approvals/{request}", SEE_REQUEST),
    case("get", "/notifications/", {OWNER}, listing=True, mark="ada_notification"),
    case("get", "/audit/", {AUDITOR, STAFF}, EVERYONE_ELSE - {AUDITOR, STAFF}),
)


# The routes of the URL configuration -----------------------------------------------------------


def configured_routes() -> set[tuple[str, str]]:
    """(route, method) of every pattern, as `resolve(...).route` spells the route."""
    found = set()
    for route, callback in _walk(get_resolver().url_patterns, ""):
        found.update((route, method) for method in _methods_of(callback))
    return found


def _walk(patterns, prefix: str) -> Iterator[tuple[str, Callable | None]]:
    for pattern in patterns:
        text = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                yield text, None  # Django admin, as one route
            else:
                yield from _walk(pattern.url_patterns, text)
        elif isinstance(pattern, URLPattern):
            yield text, pattern.callback


def _methods_of(callback) -> set[str]:
    if callback is None:
        return {"get"}
    actions = getattr(callback, "actions", None)  # a DRF viewset's routes
    if actions:
        return set(actions) - {"head", "options"}
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:  # a function view: the dashboard's pages
        return {"get"}
    return {
        name for name in view_class.http_method_names if hasattr(view_class, name) and name not in ("head", "options")
    }


def route_of(path: str) -> str:
    bare = path.split("?")[0]
    return "admin/" if bare.startswith("/admin/") else resolve(bare).route


def test_every_route_is_in_the_matrix():
    covered = {(route_of(c.path.format(**RANDOM_IDS)), c.method) for c in API_CASES + PAGE_CASES} | set(
        NOT_OBJECT_SCOPED
    )
    configured = configured_routes()
    missing = sorted(configured - covered)
    assert not missing, f"routes with no row in the matrix nor in NOT_OBJECT_SCOPED: {missing}"
    stale = sorted(covered - configured)
    assert not stale, f"rows for routes the URL configuration no longer has: {stale}"


# Asking ----------------------------------------------------------------------------------------


def clients_by_jwt(world: World) -> dict:
    return {name: _client_signed_in_as(user) for name, user in world.users.items()}


def clients_by_api_key(world: World) -> dict:
    clients = {}
    for name, user in world.users.items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_api_key(user, name='matrix').secret}")
        clients[name] = client
    return clients


def clients_by_session(world: World) -> dict:
    clients = {}
    for name, user in world.users.items():
        client = Client()
        client.force_login(user)
        clients[name] = client
    return clients


def deactivate_inactive(world: World) -> None:
    """Signed in while active (a token, a key, a session), deactivated since."""
    inactive = world.users[INACTIVE]
    inactive.is_active = False
    inactive.save()


def ask(client, case: Case, ids: dict):
    path = case.path.format(**ids)
    if isinstance(client, Client) and not isinstance(client, APIClient):
        return client.get(path)
    send = getattr(client, case.method)
    if case.multipart:
        upload = SimpleUploadedFile("ada.csv", CSV, content_type="text/csv")
        return send(path, {"file": upload, "table": f"t_{uuid.uuid4().hex[:8]}"}, format="multipart")
    if case.body is None:
        return send(path)
    body = {key: _filled(value, ids) for key, value in case.body.items()}
    return send(path, body, format="json")


def _filled(value, ids: dict):
    """A body's "{name}" stands for the id of the object of that name."""
    return ids[value[1:-1]] if isinstance(value, str) and value[1:-1] in ids and value[0] + value[-1] == "{}" else value


def object_of(case: Case) -> str | None:
    """The name of the object a case is about: named in its path, else in its body (the
    sandbox before the source it is a copy of)."""
    for name in RANDOM_IDS:
        if "{" + name + "}" in case.path:
            return name
    named = set((case.body or {}).values())
    return next((name for name in ("sandbox", "source") if "{" + name + "}" in named), None)


def text_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def leaks(text: str) -> list[str]:
    return [mark for mark in (MARK, ROWS_MARK, OWNER, SOURCE_NAME) if mark in text]


def same_answer(found, found_text: str, found_path: str, random, random_text: str, random_path: str) -> bool:
    """The answer about a hidden object is the answer about a random id: status and body."""
    if found.status_code != random.status_code:
        return False
    return _normalised(found_text, found_path) == _normalised(random_text, random_path)


def _normalised(text: str, path: str) -> str:
    # A page names the path it was asked for, and masks its CSRF token anew for every answer.
    return CSRF_TOKEN.sub("", text.replace(path.split("?")[0], "<path>"))


def check_matrix(world: World, clients: dict, cases, *, how: str, pages: bool = False) -> list[str]:
    """Every case for every actor; the mismatches, described (route, actor, what was answered)."""
    wrong: list[str] = []
    for case in cases:
        name = object_of(case)
        # Those who may not act go first: they must leave the object as it was for the others.
        for actor in sorted(ACTORS, key=lambda actor: actor in case.allowed):
            ids = dict(world.ids)
            fresh = case.fresh and actor in case.allowed and name is not None
            if fresh:
                ids[name] = world.fresh[name]()
            response = ask(clients[actor], case, ids)
            text = text_of(response)
            problem = verdict(case, actor, response, text, pages=pages)
            if problem is None and actor not in case.allowed | case.refused and not case.listing and name:
                random = ask(clients[actor], case, {**ids, name: RANDOM_IDS[name]})
                random_path = case.path.format(**{**ids, name: RANDOM_IDS[name]})
                if not same_answer(response, text, case.path.format(**ids), random, text_of(random), random_path):
                    problem = f"answers unlike a random id ({random.status_code}): confirms the object exists"
            if problem is not None:
                wrong.append(
                    f"{how} {case.method.upper()} {case.path.format(**ids)} as {actor}: {problem}: "
                    f"{response.status_code} {text[:300]!r}"
                )
            if fresh and name == "sandbox":
                # A deleted sandbox is the owner's no more: the next cases ask about a new one.
                world.ids[name] = world.fresh[name]()
    return wrong


def verdict(case: Case, actor: str, response, text: str, *, pages: bool) -> str | None:
    """What is wrong with the answer to `actor`, or None."""
    status = response.status_code
    if actor == INACTIVE:
        if pages:
            return None if status == 302 and "/login/" in response["Location"] else "an inactive user is served"
        return None if status == 401 else "an inactive user is served"
    if case.listing:
        if status != 200:
            return "a listing is refused"
        if actor in case.allowed:
            return None if case.mark in text else f"{case.mark!r} is missing"
        return f"lists someone else's object ({case.mark!r})" if case.mark in text else None
    if actor in case.allowed:
        return None if 200 <= status < 300 or status in case.ok_statuses else "refused to who may"
    if actor in case.refused:
        # Who may know of the object (not use it) still gets none of its SQL, rows or owner.
        found = [mark for mark in leaks(text) if mark != SOURCE_NAME] if actor != OWNER else []
        return (f"leaks {found}" if found else None) if status == 403 else "expected 403"
    found = leaks(text)
    if found:
        return f"leaks {found}"
    return "served to who may not" if 200 <= status < 300 else None


@ON_THE_DATABASES[0]
@ON_THE_DATABASES[1]
def test_the_api_serves_objects_only_to_who_may_see_them(request):
    world = build_world(request)
    clients = clients_by_jwt(world)
    deactivate_inactive(world)
    wrong = check_matrix(world, clients, API_CASES, how="jwt")
    assert not wrong, "\n".join(wrong)


@ON_THE_DATABASES[0]
@ON_THE_DATABASES[1]
def test_api_keys_and_the_dashboard_are_held_to_the_same_rules(request):
    world = build_world(request)
    by_key, by_session = clients_by_api_key(world), clients_by_session(world)
    deactivate_inactive(world)
    reads = [case for case in API_CASES if case.method == "get"]
    wrong = check_matrix(world, by_key, reads, how="api-key") + check_matrix(
        world, by_session, PAGE_CASES, how="session", pages=True
    )
    assert not wrong, "\n".join(wrong)
