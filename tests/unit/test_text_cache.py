"""Scans of short SQL are remembered per process (apps/sqlcore/text_cache.py): a text
asked again answers the same, a caller changing its copy changes nothing for the next,
and long texts, not remembered, are still read in full."""

from apps.sqlcore.credential_reads import credential_material_read
from apps.sqlcore.sqltext import find_placeholders
from apps.sqlcore.text_cache import SHORT_TEXT_CHARS


def test_placeholders_of_a_text_asked_again_are_the_same_and_a_fresh_list_each_time():
    sql = "SELECT * FROM t WHERE a = $1 AND b = $2"
    first = find_placeholders(sql, "postgresql")
    first.clear()
    again = find_placeholders(sql, "postgresql")
    assert [(p.style, p.key) for p in again] == [("positional", 1), ("positional", 2)]
    assert again is not find_placeholders(sql, "postgresql")


def test_a_long_text_is_read_in_full_each_time():
    padding = "-- " + "x" * SHORT_TEXT_CHARS + "\n"
    long_sql = padding + "SELECT rolpassword FROM pg_authid WHERE x = $1"
    assert len(long_sql) > SHORT_TEXT_CHARS
    assert credential_material_read(long_sql, "postgresql") is not None
    assert credential_material_read(long_sql, "mysql") is None
    assert [p.key for p in find_placeholders(long_sql, "postgresql")] == [1]
    short_sql = "SELECT rolpassword FROM pg_authid"
    assert credential_material_read(short_sql, "postgresql") == credential_material_read(short_sql, "postgresql")
    assert credential_material_read(short_sql, "postgresql") is not None
