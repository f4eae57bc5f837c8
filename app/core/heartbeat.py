"""The heartbeat a background worker keeps while it holds work (generation tasks, judge
runs, reward training): a thread that calls `beat` every few seconds, so other workers can
tell a live holder from a dead one. One loop for all of them: a failed beat is logged and
the next one tried, and leaving the block waits for a beat in flight to finish."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("ranklab.worker")


@contextmanager
def heartbeat(beat: Callable[[], None], every_seconds: float, who: str) -> Iterator[None]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            try:
                beat()
            except Exception:
                log.exception("%s: heartbeat failed", who)

    thread = threading.Thread(target=loop, name=f"heartbeat {who}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)  # its session must close before anyone disposes the engine
