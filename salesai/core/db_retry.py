"""Retry a unit of database work after the connection dropped (server restart, failover, idle timeout, a
terminated backend): close the broken connection, wait a little, run the whole unit again.

Only for work that is safe to run twice (idempotent, or committing in self-contained steps) and never inside an
open transaction: a retry there would silently lose what the transaction had done so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_DB_ERRORS = (OperationalError, InterfaceError)


def db_call_retried(call: Callable[[], T], *, attempts: int = 3, delay_seconds: float = 1.0, what: str = "") -> T:
    """`call()`, run again up to `attempts` times in all when it fails on a dropped or unusable connection."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except RETRYABLE_DB_ERRORS as exc:
            if attempt >= attempts or connection.in_atomic_block:
                raise
            logger.warning(
                "database connection lost during %s (attempt %d of %d), reconnecting: %s",
                what or getattr(call, "__name__", "a call"),
                attempt,
                attempts,
                exc,
            )
            connection.close()  # the next query opens a fresh connection
            time.sleep(delay_seconds * attempt)
    raise AssertionError("unreachable")
