"""Each status column has its moves written as data and changes only through them."""

import ast
import threading
from pathlib import Path

import pytest
from django.db import connections

from apps.approvals.state import REQUEST_STATUS
from apps.notifications.state import DELIVERY_STATUS
from apps.queries.models import QueryRun
from apps.queries.state import RUN_STATUS
from querybase.state_machine import IllegalTransition
from tests.support.factories import make_datasource, make_user

ROOT = Path(__file__).resolve().parent.parent
MACHINES = [RUN_STATUS, REQUEST_STATUS, DELIVERY_STATUS]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda machine: machine.model.__name__)
def test_every_move_is_between_known_statuses(machine):
    known = {value for value, _ in machine.model._meta.get_field(machine.field).choices}
    for source, targets in machine.transitions.items():
        assert source in known
        assert targets <= known


def test_a_move_outside_the_table_is_refused(db):
    with pytest.raises(IllegalTransition):
        RUN_STATUS.move("00000000-0000-0000-0000-000000000000", "running", from_={"succeeded"})


def test_of_racing_movers_exactly_one_wins(transactional_db):
    run = QueryRun.objects.create(user=make_user("racer"), datasource=make_datasource(), sql="SELECT 1")
    barrier, wins = threading.Barrier(4), []

    def claim() -> None:
        barrier.wait()
        try:
            wins.append(RUN_STATUS.move(run.pk, "running", from_={"queued"}))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False, False, False, True]


def test_no_status_is_changed_by_a_bare_update():
    """`.update(status=…)` anywhere but the state machine would bypass its table."""
    offenders = []
    for path in (ROOT / "apps").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
                and any(keyword.arg == "status" for keyword in node.keywords)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
