"""db_call_retried against a real dropped PostgreSQL connection: the server terminates our backend."""

import time

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from salesai.core.db_retry import db_call_retried

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend"),
]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def backend_terminate(pid: int) -> None:
    """From a second connection, as a DBA or a failover would: our connection is dead afterwards."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            time.sleep(0.05)


def test_a_terminated_connection_is_replaced_and_the_call_runs_again():
    pids = []

    def work() -> int:
        pid = backend_pid()
        pids.append(pid)
        if len(pids) == 1:
            backend_terminate(pid)
            backend_pid()  # the dead connection: OperationalError
        return pid

    assert db_call_retried(work, delay_seconds=0) == pids[-1]
    assert len(pids) == 2 and pids[0] != pids[1]


def test_it_gives_up_after_the_attempts():
    calls = []

    def always_dropped() -> None:
        calls.append(1)
        backend_terminate(backend_pid())
        backend_pid()

    with pytest.raises(OperationalError):
        db_call_retried(always_dropped, attempts=2, delay_seconds=0)
    assert len(calls) == 2
    connection.close()


def test_never_inside_a_transaction_whose_work_would_be_lost():
    calls = []

    def work() -> None:
        calls.append(1)
        backend_terminate(backend_pid())
        backend_pid()

    with pytest.raises(OperationalError), transaction.atomic():
        db_call_retried(work, delay_seconds=0)
    assert calls == [1]
    connection.close()
