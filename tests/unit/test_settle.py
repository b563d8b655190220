"""Settling: a file is ready only after its size and mtime stop changing."""

from __future__ import annotations

from pathlib import Path

from axiomd.watcher.settle import SettleTracker, Snapshot

A = Path("/drop/a.mov")


def test_file_is_due_after_settle_seconds_unchanged() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe(A, Snapshot(10, 1), now=0.0)
    assert tracker.due(1.9) == []
    assert tracker.due(2.0) == [(A, Snapshot(10, 1))]


def test_a_change_restarts_the_wait() -> None:
    """A file still being written is waited for, however long it takes."""
    tracker = SettleTracker(2.0)
    tracker.observe(A, Snapshot(10, 1), now=0.0)
    tracker.observe(A, Snapshot(20, 2), now=1.5)
    assert tracker.due(3.0) == []
    assert tracker.due(3.5) == [(A, Snapshot(20, 2))]


def test_seeing_the_same_state_again_does_not_restart_the_wait() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe(A, Snapshot(10, 1), now=0.0)
    tracker.observe(A, Snapshot(10, 1), now=1.5)
    assert tracker.due(2.0) == [(A, Snapshot(10, 1))]


def test_a_vanished_file_is_forgotten() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe(A, Snapshot(10, 1), now=0.0)
    tracker.observe(A, None, now=1.0)
    assert tracker.due(5.0) == []


def test_files_settling_together_come_out_in_name_order() -> None:
    """A burst of v001..v003 is ingested in version order."""
    tracker = SettleTracker(1.0)
    names = [Path(f"/drop/X_v00{i}.mov") for i in (3, 1, 2)]
    for name in names:
        tracker.observe(name, Snapshot(1, 1), now=0.0)
    assert [p for p, _ in tracker.due(1.0)] == sorted(names)
