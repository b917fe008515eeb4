"""What an admin is told after a change ("… was added successfully"): Django's messages,
kept in the admin's session (settings.MESSAGE_STORAGE) and shown on the next page."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


def _hidden_inputs(page: str) -> dict[str, str]:
    """The form's hidden fields (the CSRF token, the inlines' management forms)."""
    fields = {}
    for tag in re.findall(r"<input [^>]*>", page):
        if 'type="hidden"' in tag:
            name = re.search(r'name="([^"]+)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = value.group(1) if value else ""
    return fields


def test_an_admin_is_told_the_change_was_made_on_the_next_page():
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("root", is_admin=True))
    form = client.get("/admin/auth/group/add/")
    assert form.status_code == 200

    saved = client.post("/admin/auth/group/add/", {**_hidden_inputs(form.content.decode()), "name": "auditors"})
    assert saved.status_code == 302, saved.content[:500]
    assert Group.objects.filter(name="auditors").exists()

    shown = client.get(saved["Location"])
    assert "was added successfully" in shown.content.decode()
    # Shown once: the next page has it no more.
    assert "was added successfully" not in client.get(saved["Location"]).content.decode()
