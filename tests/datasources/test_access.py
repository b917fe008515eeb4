"""Who may do what on a data source: the one decision function, table-driven."""

import pytest

from apps.datasources.access import (
    Action,
    datasources_user_may,
    datasources_visible_to,
    rights_by_datasource,
    user_may,
)
from tests.support.factories import grant, make_datasource, make_group, make_user

R, W, A = Action.READ, Action.WRITE, Action.APPROVE

# (case, grants per group as {group: (read, write, approve)}, user's groups, active source,
#  active user, expected rights)
CASES = [
    ("no groups, no rights", {}, (), True, True, set()),
    ("group without a row on the source", {"other": (True, True, True)}, ("mine",), True, True, set()),
    ("read only", {"mine": (True, False, False)}, ("mine",), True, True, {R}),
    ("write without read", {"mine": (False, True, False)}, ("mine",), True, True, {W}),
    ("approve only", {"mine": (False, False, True)}, ("mine",), True, True, {A}),
    ("everything", {"mine": (True, True, True)}, ("mine",), True, True, {R, W, A}),
    ("row with every flag off", {"mine": (False, False, False)}, ("mine",), True, True, set()),
    (
        "union over two groups",
        {"g1": (True, False, False), "g2": (False, False, True)},
        ("g1", "g2"),
        True,
        True,
        {R, A},
    ),
    ("only the user's group counts", {"g1": (True, False, False), "g2": (True, True, True)}, ("g1",), True, True, {R}),
    ("inactive source grants nothing", {"mine": (True, True, True)}, ("mine",), False, True, set()),
    ("inactive user gets nothing", {"mine": (True, True, True)}, ("mine",), True, False, set()),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "grants", "user_groups", "source_active", "user_active", "expected"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_user_may(case, grants, user_groups, source_active, user_active, expected):
    source = make_datasource("shop", database="/tmp/x.sqlite3", is_active=source_active)
    groups = {name: make_group(name) for name in {*grants, *user_groups}}
    for name, (read, write, approve) in grants.items():
        grant(groups[name], source, read=read, write=write, approve=approve)
    user = make_user("u", groups=tuple(groups[name] for name in user_groups))
    user.is_active = user_active
    user.save()

    assert {action for action in Action if user_may(user, action, source)} == expected
    assert rights_by_datasource(user).get(source.id, set()) == expected
    for action in Action:
        assert (source in datasources_user_may(user, action)) == (action in expected)
    assert (source in datasources_visible_to(user)) == bool(expected)


@pytest.mark.django_db
def test_superuser_gets_no_data_rights_from_being_admin():
    source = make_datasource("shop", database="/tmp/x.sqlite3")
    admin = make_user("boss", is_admin=True)
    assert not any(user_may(admin, action, source) for action in Action)


@pytest.mark.django_db
def test_rights_on_one_source_do_not_leak_to_another():
    shop, hr = make_datasource("shop", database="/tmp/a.sqlite3"), make_datasource("hr", database="/tmp/b.sqlite3")
    analysts = make_group("analysts")
    grant(analysts, shop, read=True, write=True, approve=True)
    user = make_user("ana", groups=(analysts,))
    assert not any(user_may(user, action, hr) for action in Action)
    assert rights_by_datasource(user) == {shop.id: {R, W, A}}


def test_anonymous_user_has_no_rights(db):
    from django.contrib.auth.models import AnonymousUser

    source = make_datasource("shop", database="/tmp/x.sqlite3")
    assert not user_may(AnonymousUser(), Action.READ, source)
    assert rights_by_datasource(AnonymousUser()) == {}
