"""A drop root's inotify watches: the artist's folders are seen, the watcher's own are not.

Real inotify on a temporary folder; no catalog, no daemon. The inbox is read until the
expected path arrives, or for a short quiet spell where nothing may arrive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from axiomd.config import DropRoot
from axiomd.watcher.inotify import RootWatch

# axiomd silences this watchdog warning at import; pytest's own warning filters come first.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


@pytest.fixture
def inbox() -> queue.Queue[Path]:
    return queue.Queue()


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    (drop / ".axiomd" / "claims" / "host.1.a").mkdir(parents=True)
    (drop / "_accepted").mkdir()
    (drop / "SQ010").mkdir()
    return drop


@pytest.fixture
def watch(drop: Path, inbox: queue.Queue[Path]) -> Iterator[RootWatch]:
    watch = RootWatch(DropRoot(name="comp", path=drop), ["*.tmp"], inbox, threading.Event())
    watch.start()
    yield watch
    watch.stop()


def seen(inbox: queue.Queue[Path], quiet: float = 0.3) -> set[Path]:
    """Every path posted until nothing has come for `quiet` seconds."""
    paths = set()
    while True:
        try:
            paths.add(inbox.get(timeout=quiet))
        except queue.Empty:
            return paths


def test_a_file_renamed_into_a_subfolder_is_posted(watch: RootWatch, drop: Path,
                                                   inbox: queue.Queue[Path],
                                                   tmp_path: Path) -> None:
    aside = tmp_path / "aside.mov"
    aside.write_bytes(b"x")
    aside.rename(drop / "SQ010" / "shot_v001.mov")
    assert drop / "SQ010" / "shot_v001.mov" in seen(inbox)


def test_the_watchers_own_folders_bring_no_events(watch: RootWatch, drop: Path,
                                                  inbox: queue.Queue[Path]) -> None:
    """Claims, their journal and receipts are written under reserved folders: unwatched."""
    (drop / ".axiomd" / "claims" / "host.1.a" / "claims.jsonl").write_text("{}\n")
    (drop / "_accepted" / "shot_v001.mov.txt").write_text("received")
    assert seen(inbox) == set()


def test_a_folder_made_later_is_watched_too(watch: RootWatch, drop: Path,
                                           inbox: queue.Queue[Path]) -> None:
    (drop / "SQ020").mkdir()
    assert drop / "SQ020" in seen(inbox)
    (drop / "SQ020" / "shot_v001.mov").write_bytes(b"x")
    assert drop / "SQ020" / "shot_v001.mov" in seen(inbox)


def test_ignored_folders_are_not_watched(watch: RootWatch, drop: Path,
                                         inbox: queue.Queue[Path]) -> None:
    (drop / "render.tmp").mkdir()
    seen(inbox)
    (drop / "render.tmp" / "shot_v001.mov").write_bytes(b"x")
    assert seen(inbox) == set()


def test_reading_a_file_brings_no_event(watch: RootWatch, drop: Path,
                                        inbox: queue.Queue[Path]) -> None:
    """The watcher reads every file it ingests; that must not look like a change."""
    (drop / "SQ010" / "shot_v001.mov").write_bytes(b"x")
    seen(inbox)
    (drop / "SQ010" / "shot_v001.mov").read_bytes()
    assert seen(inbox) == set()


def test_a_folder_renamed_within_the_root_is_seen_under_its_new_name(
        watch: RootWatch, drop: Path, inbox: queue.Queue[Path]) -> None:
    (drop / "SQ010").rename(drop / "SQ011")
    seen(inbox)
    (drop / "SQ011" / "shot_v001.mov").write_bytes(b"x")
    assert drop / "SQ011" / "shot_v001.mov" in seen(inbox)
