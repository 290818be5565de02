"""Overlapping the parts of a run over many photos: the next photos are decoded and searched for
faces by a thread of their own while the model works on the current ones (`profile`, `predict`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Full, Queue


def prefetch(items: Iterator, depth: int) -> Iterator:
    """`items`, produced by a thread of their own up to `depth` ahead of the reader. An exception
    raised while producing is raised to the reader at the item it stopped; closing the returned
    generator stops the thread."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        """Hand `entry` on unless the reader has stopped; whether it was."""
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # noqa: BLE001  (handed to the reader, raised there)
            put((done, err))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = queue.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)  # it stops within one item's work
