"""Run a producer (a decoding generator) in a thread, a bounded number of items ahead of its consumer.

Decoding (FFmpeg inside OpenCV) and the CNN (OpenVINO) both release the GIL, so a timeline can decode the next
frames while the CNN reads the last ones. The queue holds at most `depth` items, so memory stays flat; an
exception in the producer is raised in the consumer; a consumer that stops early (break, an exception, close())
stops the producer at its next item and waits for it to finish, so the file it reads is closed on return.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def ahead(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield what `items` yields, produced in a background thread at most `depth` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((True, item)):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, e))
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator's finally blocks run here, in this thread (e.g. releasing the file)
        put((True, _END))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join()
