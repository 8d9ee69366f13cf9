"""prefetch.ahead: the producer's items in order, its errors raised in the consumer, never far ahead, and stopped
(its generator closed) when the consumer stops early."""

from __future__ import annotations

import threading
import time

import pytest

from hybrid.prefetch import ahead


def test_items_come_in_order_and_all_of_them():
    assert list(ahead(range(1000), depth=3)) == list(range(1000))
    assert list(ahead([], depth=3)) == []


def test_the_producer_stays_at_most_depth_ahead():
    made = []

    def produce():
        for i in range(100):
            made.append(i)
            yield i

    it = ahead(produce(), depth=4)
    assert next(it) == 0
    time.sleep(0.3)  # time enough to run ahead if it could
    assert len(made) <= 1 + 4 + 1  # the one taken, a full queue, one waiting to be put
    it.close()


def test_an_error_in_the_producer_is_raised_in_the_consumer_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ValueError("damaged at frame 3")

    got = []
    with pytest.raises(ValueError, match="damaged at frame 3"):
        for x in ahead(produce()):
            got.append(x)
    assert got == [1, 2]


def test_stopping_early_closes_the_producer_in_its_thread():
    closed = threading.Event()

    def produce():
        try:
            yield from range(10**9)
        finally:
            closed.set()  # where a reader releases its file

    before = threading.active_count()
    for x in ahead(produce(), depth=2):
        if x == 5:
            break
    assert closed.wait(5)
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before  # the thread is gone, not left running
