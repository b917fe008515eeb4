"""The CSV dialect's spelling of driver values (MariaDB's and SQLite's rows): PostgreSQL's."""

import datetime
import decimal

import pytest

from apps.datasources.connectors.csv_text import csv_text

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("", ""),
        (True, "t"),
        (False, "f"),
        (7, 7),
        (decimal.Decimal("12.50"), "12.50"),
        (decimal.Decimal("1E-8"), "0.00000001"),  # as PostgreSQL writes it, not str()'s exponent
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (datetime.datetime(2020, 9, 10, 16, 46, 3, 500000), "2020-09-10 16:46:03.5"),
        (datetime.datetime(2020, 9, 10, 16, 46, 3), "2020-09-10 16:46:03"),
        (datetime.datetime(2020, 9, 10, 16, 46, 3, 905795, tzinfo=UTC), "2020-09-10 16:46:03.905795+00"),
        (
            datetime.datetime(
                2020, 9, 10, 16, 46, 3, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
            ),
            "2020-09-10 16:46:03+05:30",
        ),
        (
            datetime.datetime(2020, 9, 10, 16, 46, 3, tzinfo=datetime.timezone(-datetime.timedelta(hours=3))),
            "2020-09-10 16:46:03-03",
        ),
        (datetime.date(2020, 9, 10), "2020-09-10"),
        (datetime.time(16, 46, 3, 120000), "16:46:03.12"),
        (b"\x00\xff", "\\x00ff"),
        ({"a": [1]}, '{"a":[1]}'),
    ],
)
def test_values_are_spelled_as_postgresql_writes_them(value, text):
    assert csv_text(value) == text
