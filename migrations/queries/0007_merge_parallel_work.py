"""Joins three changes made side by side (a saved query's sandbox, paged results, a saved
query's chart); none depends on another."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("queries", "0006_h2_savedquery_sandbox"),
        ("queries", "0006_h3_paged_results"),
        ("queries", "0006_h6_savedquery_chart"),
    ]

    operations = []
