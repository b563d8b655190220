"""Is the work still moving? What the systemd watchdog and the heartbeat vouch for.

A thread that pings the watchdog on a timer proves only that the thread is alive. So the
daemon's loop says when it turned (`Pulse.turned`), long steady work says it advanced
(`progress`, e.g. per MiB hashed), and work that is long by nature and guarded by its own
watchdog (a transcode) runs inside `busy()`. Pulse pings only while one of those holds.
Process-wide on purpose: hashing happens on the watcher's ingest threads, not its loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_busy = 0
_progress = time.monotonic()
_watchers: list[Callable[[int], None]] = []


def progress(done: int = 0) -> None:
    """Long work has moved on (another `done` bytes hashed or copied)."""
    global _progress
    _progress = time.monotonic()
    for watcher in _watchers:
        watcher(done)


@contextmanager
def shown(on_progress: Callable[[int], None]) -> Iterator[None]:
    """Also tell `on_progress` (a progress bar) how many bytes each step did."""
    _watchers.append(on_progress)
    try:
        yield
    finally:
        _watchers.remove(on_progress)


@contextmanager
def busy() -> Iterator[None]:
    """Work that may take long, and has a watchdog of its own, is under way."""
    global _busy
    with _lock:
        _busy += 1
    try:
        yield
    finally:
        with _lock:
            _busy -= 1
        progress()


def quiet_since(last_turn: float) -> float | None:
    """When nothing has moved since (monotonic), or None while busy work is under way."""
    with _lock:
        if _busy:
            return None
    return max(last_turn, _progress)
