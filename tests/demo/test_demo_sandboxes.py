"""`make run` shows sandboxes: the demo shop has them on, and the demo analyst can try a
write in their own copy at once."""

import pytest
from django.contrib.auth import get_user_model

from apps.demo.services import seed_demo
from tests.support.factories import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]


def test_the_demo_analyst_writes_in_a_sandbox_of_the_demo_shop():
    source = seed_demo()
    assert source.sandbox_enabled
    client = client_for(get_user_model().objects.get(username="analyst"))

    sandbox = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()
    wrote = client.post(
        "/api/v1/queries",
        {"datasource": source.pk, "sandbox": sandbox["id"], "sql": "DELETE FROM order_items"},
        format="json",
    )

    assert wrote.status_code == 200, wrote.content
    assert wrote.json()["result"]["affected_rows"][0] > 0
