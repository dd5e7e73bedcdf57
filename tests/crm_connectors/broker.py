"""The real Celery broker in tests: make it unreachable, and read what was sent to a queue of the test's own.

No mock: `broker_down()` points the app at a port where nothing listens (every send fails the way it does when
Redis is stopped), and `private_sync_queue()` routes the sync-queue tasks to a queue only this test reads, on
the configured broker (Redis in CI, the embedded filesystem broker locally), so parallel sessions sharing the
broker neither steal nor inject messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from queue import Empty

from salesai.celery import app

DEAD_BROKER_URL = "redis://127.0.0.1:1/0"  # port 1: connection refused at once


def _pools_reset() -> None:
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_down() -> Iterator[None]:
    keys = ("broker_url", "broker_write_url", "broker_read_url", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url=DEAD_BROKER_URL,
        broker_write_url=DEAD_BROKER_URL,
        broker_read_url=DEAD_BROKER_URL,
        broker_transport_options={},
    )
    _pools_reset()
    try:
        yield
    finally:
        app.conf.update(saved)
        _pools_reset()


class PrivateQueue:
    def __init__(self, name: str) -> None:
        self.name = name

    def take(self) -> list[tuple[str, tuple, dict]]:
        """Remove and return every message waiting: (task name, args, kwargs)."""
        taken = []
        with app.connection_for_read() as connection:
            queue = connection.SimpleQueue(self.name)
            try:
                while True:
                    try:
                        message = queue.get(block=True, timeout=0.5)
                    except Empty:
                        return taken
                    args, kwargs, _ = message.decode()
                    taken.append((message.headers["task"], tuple(args), kwargs))
                    message.ack()
            finally:
                queue.close()

    def run_all(self) -> list:
        """What a worker on this queue would do: run every waiting task (in this process)."""
        return [app.tasks[name](*args, **kwargs) for name, args, kwargs in self.take()]


@contextmanager
def private_queue(*task_patterns: str) -> Iterator[PrivateQueue]:
    """Route the tasks matching `task_patterns` (e.g. "ml.tasks.*") to a queue only this test reads."""
    queue = PrivateQueue(f"test-{uuid.uuid4().hex[:12]}")
    saved = app.conf.task_routes
    # Exact task names of the configured routes would win over our patterns: drop those that match them.
    kept = {name: route for name, route in saved.items() if not any(fnmatch(name, p) for p in task_patterns)}
    app.conf.task_routes = {**kept, **{pattern: {"queue": queue.name} for pattern in task_patterns}}
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)  # cached: rebuilt from the routes above on the next send
    try:
        yield queue
    finally:
        queue.take()  # leave nothing behind on a shared broker
        app.conf.task_routes = saved
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)


def private_sync_queue():
    """The sync queue's tasks (crm_connectors.tasks.*) on a queue of the test's own."""
    return private_queue("crm_connectors.tasks.*")
