"""Fetch the next CRM pages while the current one is written: a bounded read-ahead thread for a page iterator.

A sync alternates between waiting on the CRM (HTTP) and waiting on the database (COPY, upsert). Reading ahead
in a thread overlaps the two; the queue bound keeps memory flat (at most `depth` pages wait in memory).

The producer thread never touches the database: Django connections are per thread, and a second connection
would not see the sync's open transaction (it could even wait on its locks). Anything the connector wants
done in the database while it reads (saving a rotated OAuth token through `on_credentials_change`) is
handed to the consuming thread through `ConsumerRelay`, in order with the pages, and runs there before the
pages that followed it are handed over.

Failures keep their place in the order: the pages fetched before an error are delivered, then the error
(any BaseException, SystemExit included) is raised in the consumer, so "pages fetched before a failure are
committed" holds exactly as without read-ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_PAGE, _CALL, _ERROR, _DONE = "page", "call", "error", "done"
_PUT_POLL_SECONDS = 0.2  # how often a blocked producer checks whether the consumer went away
# On an early stop the producer may be inside an HTTP request; waiting longer would hold up the failing sync.
_JOIN_SECONDS = 2.0


class ConsumerRelay:
    """Runs callables on the thread that owns the sync (the consumer), whichever thread asks."""

    def __init__(self) -> None:
        self._owner = threading.get_ident()
        self._sink: Callable[[Callable[[], None]], None] | None = None

    def run(self, call: Callable[[], None]) -> None:
        if threading.get_ident() == self._owner or self._sink is None:
            call()
        else:
            self._sink(call)

    def _attach(self, sink: Callable[[Callable[[], None]], None] | None) -> None:
        self._sink = sink


class _Stopped(Exception):
    """The consumer stopped reading: the producer ends quietly."""


class PagesPrefetched(Generic[T]):
    """Iterate `pages` in a background thread, `depth` items ahead of the consumer."""

    def __init__(
        self,
        pages: Iterator[T],
        *,
        depth: int,
        relay: ConsumerRelay | None = None,
        name: str = "prefetch",
        on_wait: Callable[[], None] | None = None,
        wait_seconds: float = 30.0,
    ):
        self._pages = pages
        self._on_wait = on_wait
        self._wait_seconds = wait_seconds
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._relay = relay
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def __iter__(self) -> Iterator[T]:
        if self._relay is not None:
            self._relay._attach(lambda call: self._put(_CALL, call))
        self._thread.start()
        try:
            while True:
                try:
                    kind, value = self._queue.get(timeout=self._wait_seconds if self._on_wait else None)
                except queue.Empty:
                    assert self._on_wait is not None
                    self._on_wait()  # on the consumer's thread: it may use the database (a sync's heartbeat)
                    continue
                if kind == _PAGE:
                    yield value  # type: ignore[misc]
                elif kind == _CALL:
                    value()  # type: ignore[operator]
                elif kind == _ERROR:
                    raise value  # type: ignore[misc]
                else:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producer (it ends at its next page) and detach the relay. Relayed calls still waiting
        (a rotated token to save) run now, in this thread: they must not be lost with the unread pages."""
        self._stop.set()
        if self._relay is not None:
            self._relay._attach(None)
        # Unblock a producer waiting on a full queue; it sees the stop flag and ends.
        self._drain()
        self._thread.join(timeout=_JOIN_SECONDS)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                kind, value = self._queue.get_nowait()
            except queue.Empty:
                return
            if kind == _CALL:
                value()  # type: ignore[operator]

    def _produce(self) -> None:
        try:
            for page in self._pages:
                self._put(_PAGE, page)
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - delivered to the consumer, in order
            try:
                self._put(_ERROR, exc)
            except _Stopped:
                pass
            return
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - the consumer is gone or already has the real error
                    pass
        try:
            self._put(_DONE, None)
        except _Stopped:
            pass

    def _put(self, kind: str, value: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=_PUT_POLL_SECONDS)
                return
            except queue.Full:
                continue
        raise _Stopped


def pages_prefetched(
    pages: Iterator[T],
    *,
    depth: int,
    relay: ConsumerRelay | None = None,
    name: str = "prefetch",
    on_wait: Callable[[], None] | None = None,
    wait_seconds: float = 30.0,
) -> Generator[T, None, None]:
    """`pages`, read `depth` items ahead in a thread; depth 0 reads in the caller's thread (no thread).
    Either way a generator: `close()` it when stopping early. With read-ahead, `on_wait` runs in the caller's
    thread every `wait_seconds` it spends waiting for the next item (without it the caller's thread is the one
    reading, so there is nothing to wait for)."""
    if depth <= 0:
        return (page for page in pages)
    prefetched = PagesPrefetched(pages, depth=depth, relay=relay, name=name, on_wait=on_wait, wait_seconds=wait_seconds)
    return iter(prefetched)  # type: ignore[return-value]
