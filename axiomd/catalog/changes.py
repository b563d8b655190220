"""Waking an idle embedded worker when the catalog changes, sooner than its poll would.

An idle embedded worker asks for a job every `poll_seconds`; a new version's jobs waited
half a poll on average before anyone took them. On SQLite every writer is on this host
and `PRAGMA data_version`, read on a connection of its own, changes whenever another
connection commits; a worker looking at it every `tick` seconds (a read of the WAL's
shared memory, no lock) hears of a new job within a tick. On PostgreSQL the same would
need a NOTIFY from the statements that insert jobs; there the worker just polls.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy.engine import Engine


class CommitWatch:
    """Waits out an idle worker's poll; a backend that can tell it of commits ends it early."""

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """True if a commit ended the wait early."""
        stop.wait(seconds)
        return False

    def close(self) -> None:
        """Release what the watch holds."""


class SQLiteCommitWatch(CommitWatch):
    tick = 0.02

    def __init__(self, path: str) -> None:
        uri = f"{Path(path).resolve().as_uri()}?mode=rw"  # never creates a stray empty file
        self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.seen = self._version()

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Until `seconds` pass or someone commits (since the last wait looked: a commit
        between two waits ends the next one at once, so none goes unheard)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not stop.wait(min(self.tick, left)):
            try:
                version = self._version()
            except sqlite3.Error:  # the claim after this wait will say what is wrong
                stop.wait(max(0.0, deadline - time.monotonic()))
                return False
            if version != self.seen:
                self.seen = version
                return True
        return False

    def close(self) -> None:
        self.conn.close()


def commit_watch(engine: Engine) -> CommitWatch:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return CommitWatch()
    try:
        return SQLiteCommitWatch(database)
    except sqlite3.Error:
        return CommitWatch()
