"""A write that ran on a source drops that source's cached reads: the same SELECT after an
approved write shows what the source holds now, through the API, with the real worker."""

import pytest

from apps.approvals.execution import settle_interrupted
from apps.approvals.models import ApprovalRequest, ApprovalStatus
from tests.support.approvals import settle
from tests.support.factories import client_for, grant, make_datasource, reader

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

TOTAL = "SELECT sum(amount) AS total FROM ledger"


def read(user, source, sql: str = TOTAL, **extra) -> dict:
    response = client_for(user).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql, "wait": 10, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_an_approved_write_makes_the_next_read_fresh(team):
    assert read(team.analyst, team.source)["result"]["rows"] == [[50]]
    assert read(team.analyst, team.source)["cached"] is True

    request_id = team.request_write("UPDATE ledger SET amount = amount + 1 WHERE id <= 3")["id"]
    team.review(request_id, "approve")
    assert settle(request_id).status == ApprovalStatus.SUCCEEDED

    after = read(team.analyst, team.source)
    assert after["cached"] is False
    assert after["result"]["rows"] == [[53]]
    assert read(team.analyst, team.source)["cached"] is True  # and it is cached again


def test_a_failed_write_drops_cached_reads_too(team):
    """A write that fails may have changed something before failing (a statement that
    commits by itself, one transaction of several): nothing read before it is trusted."""
    read(team.analyst, team.source)
    request_id = team.request_write("UPDATE ledger SET amount = amount / 0 WHERE id = 1")["id"]
    team.review(request_id, "approve")
    assert settle(request_id).status == ApprovalStatus.FAILED
    assert read(team.analyst, team.source)["cached"] is False


def test_other_sources_keep_their_cached_reads(team, shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    grant(team.analyst.groups.get(), shop, read=True)
    read(team.analyst, shop, "SELECT count(*) FROM customers")

    request_id = team.request_write("DELETE FROM ledger WHERE id = 5")["id"]
    team.review(request_id, "approve")
    assert settle(request_id).status == ApprovalStatus.SUCCEEDED

    assert read(team.analyst, shop, "SELECT count(*) FROM customers")["cached"] is True


def test_a_write_settled_after_its_worker_died_drops_cached_reads(team):
    """The worker died after the commit, before it could drop the cached reads: the sweeper,
    settling the request from its outcome marker, does it."""
    read(team.analyst, team.source)
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    ApprovalRequest.objects.filter(pk=request_id).update(status=ApprovalStatus.EXECUTING)
    approval = ApprovalRequest.objects.select_related("datasource").get(pk=request_id)
    # No outcome marker: the outcome cannot be known, and it may have committed.
    assert settle_interrupted(approval) == ApprovalStatus.FAILED
    assert read(team.analyst, team.source)["cached"] is False


def test_a_read_cached_by_a_since_deleted_user_is_read_again(team):
    """Deleting a user deletes their runs; a result cached from one of them has no run to
    point to any more, so the next reader's SELECT goes to the source."""
    leaver = reader("leaver", team.source)
    assert read(leaver, team.source)["cached"] is False
    leaver.delete()
    again = read(team.analyst, team.source)
    assert again["result"]["rows"] == [[50]]
    assert again["cached"] is False
    assert read(team.analyst, team.source)["cached"] is True
