"""Session locks say whether the process doing some work is alive."""

from django.db import connection

from querybase import session_locks


def test_a_held_lock_is_seen_and_a_released_one_is_not(db):
    with session_locks.session_lock(session_locks.QUERY_RUN, 4242) as acquired:
        assert acquired
        assert session_locks.held(session_locks.QUERY_RUN, [4242, 4243]) == {4242}
    assert session_locks.held(session_locks.QUERY_RUN, [4242]) == set()


def test_the_server_probes_idle_clients_so_a_lost_host_frees_its_locks_in_a_minute(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW tcp_keepalives_idle")
        idle = cursor.fetchone()[0]
        cursor.execute("SHOW tcp_keepalives_interval")
        interval = cursor.fetchone()[0]
    assert (idle, interval) == ("30", "10")
