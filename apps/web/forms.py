"""Forms of the dashboard pages that are not API calls from the browser."""

from dataclasses import replace

from django import forms
from django.core.exceptions import ValidationError

from apps.audit_search.search_store import AuditQuery
from apps.audit_search.search_store.base import words_of

_LOCAL_TIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class AuditSearchForm(forms.Form):
    """One form for the four reports: a table (with its source) asks for a record's
    lifetime, words for full text, otherwise a user's events or a time window."""

    q = forms.CharField(required=False, max_length=1000, label="Words")
    user = forms.CharField(required=False, max_length=150)
    datasource = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Source id")
    table = forms.CharField(required=False, max_length=300)
    key = forms.CharField(required=False, max_length=200)
    action = forms.CharField(required=False, max_length=64)
    after = forms.DateTimeField(required=False, widget=_LOCAL_TIME, input_formats=["%Y-%m-%dT%H:%M", "iso-8601"])
    before = forms.DateTimeField(required=False, widget=_LOCAL_TIME, input_formats=["%Y-%m-%dT%H:%M", "iso-8601"])

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if data.get("table") and not data.get("datasource"):
            raise ValidationError("A record's history needs its source id as well as its table.")
        if data.get("key") and not data.get("table"):
            raise ValidationError("A key needs its table.")
        if data.get("q") and not words_of(data["q"]):
            raise ValidationError("Search for at least one word.")
        if data.get("after") and data.get("before") and data["after"] >= data["before"]:
            raise ValidationError("“Before” must be later than “after”.")
        return data

    def has_filters(self) -> bool:
        return any(self.cleaned_data.get(name) for name in self.fields)

    def report(self) -> tuple[str, AuditQuery]:
        """Which report the filled fields ask for, and its query."""
        data = self.cleaned_data
        if data.get("table"):
            query = AuditQuery(
                datasource_id=data["datasource"], table=data["table"], key=data.get("key") or None, oldest_first=True
            )
            return "records", query
        window = AuditQuery(
            actor=data.get("user") or None,
            after=data.get("after"),
            before=data.get("before"),
            datasource_id=data.get("datasource"),
            action=data.get("action") or None,
        )
        if data.get("q"):
            return "search", replace(window, text=data["q"])
        return "events", window
