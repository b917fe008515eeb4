"""Invariant 8: what the approver sees is what runs. Invisible and direction-changing
characters cannot make a statement look harmless: they raise the risk to high and are
shown as visible markers in the API, on the request page and in the Chat card."""

import pytest
from django.test import Client

from apps.notifications.models import Notification
from tests.support.approvals import Team
from tests.support.factories import DEFAULT_PASSWORD, make_datasource

pytestmark = pytest.mark.django_db

# On screen: DELETE FROM orders WHERE country <> 'x'  AND id = 1 --
# What runs: a string that swallows "AND id = 1 --", so every other row goes.
DISGUISED = "DELETE FROM orders WHERE country <> 'x\u202e \u2066 AND id = 1 --\u2069 \u2066'"


@pytest.fixture
def shop_team(shop_sqlite_path, settings):
    settings.QUERYBASE_CHAT_WEBHOOK_URL = "https://chat.googleapis.com/v1/spaces/x/messages?key=k"
    return Team(make_datasource("shop", database=str(shop_sqlite_path)))


def test_hidden_characters_make_a_write_high_risk_and_show_in_the_api(shop_team):
    approval = shop_team.request_write(DISGUISED)
    assert approval["risk"] == "high"
    assert approval["hidden_characters"] == [
        "U+202E RIGHT-TO-LEFT OVERRIDE",
        "U+2066 LEFT-TO-RIGHT ISOLATE",
        "U+2069 POP DIRECTIONAL ISOLATE",
    ]
    assert approval["sql"] == DISGUISED  # the exact text is kept: it is what runs
    assert "\u202e" not in approval["sql_visible"]
    assert "'x⟦U+202E⟧ ⟦U+2066⟧ AND id = 1 --⟦U+2069⟧ ⟦U+2066⟧'" in approval["sql_visible"]
    statement = approval["classification"]["statements"][0]
    assert statement["risk"] == "high"
    assert any("U+202E RIGHT-TO-LEFT OVERRIDE" in reason for reason in statement["reasons"])
    assert "⟦U+2069⟧" in statement["visible_text"]


def test_the_same_write_without_hidden_characters_stays_low_risk(shop_team):
    approval = shop_team.request_write("DELETE FROM orders WHERE country <> 'x' AND id = 1")
    assert approval["risk"] == "low"
    assert approval["hidden_characters"] == []


@pytest.mark.parametrize(
    "character",
    ["\u200b", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u3164", "\U000e0041", "\u0085", "\u2028", "\x1b"],
)
def test_zero_width_and_other_invisible_characters_count_too(shop_team, character):
    approval = shop_team.request_write(f"DELETE FROM orders WHERE country = 'G{character}B'")
    assert approval["risk"] == "high"
    assert f"⟦U+{ord(character):04X}⟧" in approval["sql_visible"]


def test_a_lone_carriage_return_is_shown(shop_team):
    # PostgreSQL ends a -- comment at a lone CR; a browser may not break the line there.
    approval = shop_team.request_write("DELETE FROM orders -- only the test rows\rWHERE id = 1")
    assert approval["risk"] == "high"
    assert "⟦U+000D⟧" in approval["sql_visible"]


def test_the_request_page_shows_markers_not_the_characters(shop_team):
    approval_id = shop_team.request_write(DISGUISED)["id"]
    browser = Client()
    assert browser.login(username=shop_team.approver.username, password=DEFAULT_PASSWORD)
    page = browser.get(f"/approvals/{approval_id}").content.decode()
    assert "\u202e" not in page and "\u2066" not in page
    assert page.count("⟦U+202E⟧") >= 2  # the exact SQL and the statement row
    assert 'id="hidden-characters"' in page
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in page


def test_the_chat_card_shows_markers(shop_team):
    shop_team.request_write(DISGUISED)
    card = Notification.objects.get(channel="google_chat").payload["cardsV2"][0]["card"]
    texts = str(card)
    assert "\u202e" not in texts
    assert "⟦U+202E⟧" in texts
