"""Which paths in a drop root are the artist's: the watcher asks for every event."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from axiomd.config import DropRoot, WatchSettings
from axiomd.watcher.sources import DropSources, parts_under, wanted

ROOT = DropRoot(name="comp", path=Path("/srv/drop/comp"))


@pytest.mark.parametrize(("path", "parts"), [
    ("/srv/drop/comp", []),
    ("/srv/drop/comp/a.mov", ["a.mov"]),
    ("/srv/drop/comp/sub/a.mov", ["sub", "a.mov"]),
    ("/srv/drop/compositing/a.mov", None),
    ("/srv/drop/a.mov", None),
])
def test_parts_under_a_folder_are_what_relative_to_gives(path: str, parts: list[str] | None
                                                          ) -> None:
    assert parts_under(ROOT.path, Path(path)) == parts
    expected = list(Path(path).relative_to(ROOT.path).parts) if parts is not None else None
    assert parts == expected


def test_everything_is_under_the_file_systems_root() -> None:
    assert parts_under(Path("/"), Path("/srv/a.mov")) == ["srv", "a.mov"]


@pytest.mark.parametrize(("path", "is_wanted"), [
    ("/srv/drop/comp/a.mov", True),
    ("/srv/drop/comp/sub/a.mov", True),
    ("/srv/drop/comp/_rejected/a.mov", False),
    ("/srv/drop/comp/.axiomd/claims/x", False),
    ("/srv/drop/comp/a.mov.axiomd.json", False),
    ("/srv/drop/comp/a.mov.tmp", False),
    ("/srv/drop/comp", False),
    ("/srv/drop/other/a.mov", False),
])
def test_wanted_files_are_the_artists_own(path: str, is_wanted: bool) -> None:
    assert wanted(ROOT, Path(path), ["*.tmp"]) is is_wanted


def test_a_flat_root_wants_no_files_in_subfolders() -> None:
    flat = DropRoot(name="comp", path=ROOT.path, recursive=False)
    assert wanted(flat, ROOT.path / "a.mov", [])
    assert not wanted(flat, ROOT.path / "sub" / "a.mov", [])


def test_waiting_for_an_event_ends_on_time_when_a_signal_handler_outlasts_the_wait(
        tmp_path: Path) -> None:
    """A SIGHUP or SIGTERM whose handler finished after the wait's deadline (the GIL held
    elsewhere) left `queue.SimpleQueue.get` waiting forever on CPython 3.11: an idle
    `axiomd run` then ignored SIGTERM until a file arrived."""
    sources = DropSources(WatchSettings(roots=(DropRoot(name="comp", path=tmp_path),)))

    def slow_handler(*_: object) -> None:
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pass

    previous = signal.signal(signal.SIGUSR1, slow_handler)
    signal_soon = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
    rescue = threading.Timer(5.0, sources.inbox.put, (tmp_path / "rescue.mov",))
    try:
        signal_soon.start()
        rescue.start()
        started = time.monotonic()
        assert sources.next_event(0.2) is None
        assert time.monotonic() - started < 2.0
    finally:
        rescue.cancel()
        signal.signal(signal.SIGUSR1, previous)
