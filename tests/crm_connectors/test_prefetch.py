"""Read-ahead of CRM pages in a thread: order, errors in place, bounded look-ahead, relayed calls."""

import threading
import time

import pytest

from crm_connectors.prefetch import ConsumerRelay, pages_prefetched


def _numbers(count, *, pulled=None, fail_at=None, failure=RuntimeError, finished=None):
    try:
        for number in range(count):
            if number == fail_at:
                raise failure("CRM went away")
            if pulled is not None:
                pulled.append(number)
            yield number
    finally:
        if finished is not None:
            finished.set()


def test_every_page_arrives_in_order_from_another_thread():
    producer_threads = set()

    def pages():
        for number in range(50):
            producer_threads.add(threading.get_ident())
            yield number

    assert list(pages_prefetched(pages(), depth=3)) == list(range(50))
    assert producer_threads and threading.get_ident() not in producer_threads


def test_depth_zero_reads_in_the_callers_thread():
    threads = set()

    def pages():
        threads.add(threading.get_ident())
        yield 1

    assert list(pages_prefetched(pages(), depth=0)) == [1]
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize("failure", [RuntimeError, SystemExit])
def test_pages_before_a_failure_arrive_then_the_failure_is_raised(failure):
    received = []
    with pytest.raises(failure):
        for number in pages_prefetched(_numbers(10, fail_at=4, failure=failure), depth=2):
            received.append(number)
    assert received == [0, 1, 2, 3]


def test_the_producer_reads_only_a_bounded_distance_ahead_and_stops_when_the_consumer_does():
    pulled, finished = [], threading.Event()
    iterator = pages_prefetched(_numbers(1000, pulled=pulled, finished=finished), depth=2)
    assert next(iterator) == 0
    time.sleep(0.3)  # give the producer every chance to run ahead
    assert len(pulled) <= 1 + 2 + 1  # the one handed over, the queue, the one waiting to be queued
    iterator.close()
    assert finished.wait(5), "the source iterator was not closed after the consumer stopped"
    assert len(pulled) < 1000


def test_relayed_calls_run_on_the_consumer_thread_in_order_with_the_pages():
    consumer = threading.get_ident()
    relay = ConsumerRelay()
    events = []

    def pages():
        yield "page-1"
        relay.run(lambda: events.append(("saved", threading.get_ident())))
        yield "page-2"

    for page in pages_prefetched(pages(), depth=2, relay=relay):
        events.append((page, threading.get_ident()))
    assert events == [("page-1", consumer), ("saved", consumer), ("page-2", consumer)]


def test_a_relayed_call_queued_before_a_failure_is_not_lost():
    relay = ConsumerRelay()
    saved = []

    def pages():
        relay.run(lambda: saved.append("rotated-token"))
        raise RuntimeError("CRM went away after the refresh")
        yield  # pragma: no cover - makes this a generator

    with pytest.raises(RuntimeError):
        list(pages_prefetched(pages(), depth=1, relay=relay))
    assert saved == ["rotated-token"]


def test_outside_a_read_ahead_the_relay_runs_calls_at_once():
    relay = ConsumerRelay()
    calls = []
    relay.run(lambda: calls.append(threading.get_ident()))
    assert calls == [threading.get_ident()]


def test_the_consumer_reports_while_it_waits_for_a_slow_producer():
    import time

    from crm_connectors.prefetch import pages_prefetched

    def slow():
        time.sleep(0.35)
        yield 1

    waits = []
    pages = pages_prefetched(slow(), depth=1, on_wait=lambda: waits.append(time.monotonic()), wait_seconds=0.1)
    assert list(pages) == [1]
    assert len(waits) >= 2  # a sync's heartbeat keeps going while its CRM is slow
