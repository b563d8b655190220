"""Deciding when a file has stopped changing. Pure: the clock and stat results come in.

A file is settled once its size and mtime have been the same for `settle_seconds`.
A file that keeps changing is simply watched longer; it is never given up on. An empty
file is a copy that has not started writing yet, so it settles only after
`empty_seconds` (and is then set aside, never versioned).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Snapshot:
    size: int
    mtime_ns: int
    regular: bool = True  # a pipe or a device is "empty" by nature, not a copy not yet begun

    @classmethod
    def of(cls, st: os.stat_result) -> Snapshot:
        return cls(st.st_size, st.st_mtime_ns, stat.S_ISREG(st.st_mode))

    @property
    def empty(self) -> bool:
        return self.regular and self.size == 0


@dataclass
class _Entry:
    snapshot: Snapshot
    stable_since: float


class SettleTracker:
    def __init__(self, settle_seconds: float, empty_seconds: float = 300.0) -> None:
        self.settle_seconds = settle_seconds
        self.empty_seconds = empty_seconds
        self._entries: dict[Path, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: Path) -> bool:
        return path in self._entries

    def observe(self, path: Path, snapshot: Snapshot | None, now: float) -> None:
        """Record what a stat saw; `None` means the file is gone (moved away or deleted)."""
        if snapshot is None:
            self._entries.pop(path, None)
            return
        entry = self._entries.get(path)
        if entry is None or entry.snapshot != snapshot:
            self._entries[path] = _Entry(snapshot, now)

    def due(self, now: float) -> list[tuple[Path, Snapshot]]:
        """Files unchanged for long enough, in name order; they leave the tracker.

        Name order means a burst of `…_v001`, `…_v002` settling together is taken in
        version order, as the artist meant it.
        """
        ready = sorted(
            ((p, e) for p, e in self._entries.items()
             if now - e.stable_since >= (self.empty_seconds if e.snapshot.empty
                                         else self.settle_seconds)),
            key=lambda item: item[0],
        )
        for path, _ in ready:
            del self._entries[path]
        return [(p, e.snapshot) for p, e in ready]

    def candidates(self) -> list[Path]:
        return list(self._entries)
