"""The watcher's settling, batching and intake, turned by hand on a made-up clock.

No observers and no sleeping: files are found by scanning, the clock is a number the
test moves, and the catalog is SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.versions import list_assets, list_versions
from axiomd.config import load_config
from axiomd.daemon import Shutdown
from axiomd.watcher.daemon import Watcher

ASSET = "TST_SQ010_SH0010_comp"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watcher(tmp_path: Path, write_config: Callable[..., Path], clock: Clock) -> Iterator[Watcher]:
    config = load_config(write_config(f"sqlite:///{tmp_path / 'catalog.db'}", settle=2.0,
                                      sequence_settle=10.0, rescan=5))
    app = App(config)
    schema.upgrade(app.engine)
    watcher = Watcher(config, app.ingestor, Shutdown(1), clock=clock)
    yield watcher
    watcher.intake.close()
    app.close()


def turn(watcher: Watcher, clock: Clock, at: float) -> None:
    """Move the clock to `at` seconds after the start, scan, and ingest what is due."""
    clock.now = 1000.0 + at
    root = watcher.config.watch.roots[0]
    watcher._scan(root, root.path)
    watcher.ingest_due()


def drop(watcher: Watcher) -> Path:
    return watcher.config.watch.roots[0].path


def test_a_file_becomes_a_version_once_it_has_been_quiet_for_settle_seconds(
        watcher: Watcher, clock: Clock) -> None:
    (drop(watcher) / f"{ASSET}_v001.mov").write_bytes(b"frames")
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 1.9)
    assert list_assets(watcher.engine) == []
    turn(watcher, clock, 2.0)
    assert [v.label for v in list_versions(watcher.engine, ASSET)] == ["v001"]
    assert not (drop(watcher) / f"{ASSET}_v001.mov").exists()


def test_an_empty_file_never_takes_a_version_and_is_set_aside_once_it_stays_empty(
        watcher: Watcher, clock: Clock) -> None:
    """A 0-byte file is a copy that has not started: the real file later still gets v001."""
    empty = drop(watcher) / f"{ASSET}_v001.mov"
    empty.write_bytes(b"")
    for at in (0.0, 2.0, 60.0, 299.0):
        turn(watcher, clock, at)
    assert list_assets(watcher.engine) == [] and empty.exists()
    turn(watcher, clock, 300.0)
    assert not empty.exists()
    note = drop(watcher) / "_rejected" / f"{ASSET}_v001.mov.rejected.txt"
    assert "empty (0 bytes)" in note.read_text()
    assert list_assets(watcher.engine) == []


def test_an_empty_file_that_fills_up_is_ingested_with_its_content(
        watcher: Watcher, clock: Clock) -> None:
    path = drop(watcher) / f"{ASSET}_v001.mov"
    path.write_bytes(b"")
    turn(watcher, clock, 0.0)
    path.write_bytes(b"the real content")
    turn(watcher, clock, 10.0)
    turn(watcher, clock, 12.0)
    [version] = list_versions(watcher.engine, ASSET)
    assert version.size == len(b"the real content")


def test_rescans_do_not_restart_a_sequences_quiet_period_or_announce_its_frames_again(
        watcher: Watcher, clock: Clock) -> None:
    """With rescans every 5 s and a 10 s sequence quiet period, the sequence still goes in."""
    folder = drop(watcher)
    for n in range(1001, 1004):
        (folder / f"{ASSET}_v001.{n}.png").write_bytes(f"frame {n}".encode())
    turn(watcher, clock, 0.0)
    with capture_logs() as logs:
        for at in (2.0, 5.0, 10.0):
            turn(watcher, clock, at)
        assert list_assets(watcher.engine) == []
        turn(watcher, clock, 12.0)
    assert not [e for e in logs if e["event"] == "ingest.detected"]
    [version] = list_versions(watcher.engine, ASSET)
    assert version.media is not None and version.media["sequence"]["count"] == 3


def test_versions_of_one_asset_go_in_in_name_order(watcher: Watcher, clock: Clock) -> None:
    for n in (3, 1, 2):
        (drop(watcher) / f"{ASSET}_v00{n}.mov").write_bytes(f"take {n}".encode())
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 2.0)
    versions = list_versions(watcher.engine, ASSET)
    assert [(v.label, v.original_name) for v in versions] == [
        (f"v00{n}", f"{ASSET}_v00{n}.mov") for n in (1, 2, 3)]


def test_a_version_that_comes_early_waits_for_the_lower_one_and_keeps_its_number(
        watcher: Watcher, clock: Clock) -> None:
    """A small v002 that settles before a big v001 finished copying is not refused."""
    folder = drop(watcher)
    (folder / f"{ASSET}_v002.mov").write_bytes(b"second")
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 2.0)
    assert list_assets(watcher.engine) == [] and (folder / f"{ASSET}_v002.mov").exists()
    (folder / f"{ASSET}_v001.mov").write_bytes(b"first")
    turn(watcher, clock, 5.0)
    turn(watcher, clock, 7.0)
    turn(watcher, clock, 9.0)
    versions = list_versions(watcher.engine, ASSET)
    assert [(v.label, v.original_name) for v in versions] == [
        ("v001", f"{ASSET}_v001.mov"), ("v002", f"{ASSET}_v002.mov")]


def test_an_early_file_is_tried_again_less_and_less_often_while_it_waits(
        watcher: Watcher, clock: Clock) -> None:
    """Each try claims and hashes the file: not at every settle, but after 1, 2, 4, 8 s."""
    (drop(watcher) / f"{ASSET}_v002.mov").write_bytes(b"second")
    with capture_logs() as logs:
        for at in range(31):
            turn(watcher, clock, float(at))
    tries = [e for e in logs if e["event"] == "ingest.early"]
    assert 4 <= len(tries) <= 7


def test_a_gap_nobody_fills_is_refused_after_the_wait_naming_the_real_next_name(
        watcher: Watcher, clock: Clock) -> None:
    folder = drop(watcher)
    (folder / f"{ASSET}_v003.mov").write_bytes(b"third")
    for at in (0.0, 2.0, 30.0, 59.0):
        turn(watcher, clock, at)
    assert (folder / f"{ASSET}_v003.mov").exists()
    for at in (62.0, 64.0):
        turn(watcher, clock, at)
    note = (folder / "_rejected" / f"{ASSET}_v003.mov.rejected.txt").read_text()
    assert "would leave a gap" in note and f"A name that would work: {ASSET}_v001.mov" in note


def test_polling_posts_new_changed_and_vanished_files_but_never_enters_reserved_folders(
        tmp_path: Path) -> None:
    """A share with many files in `_rejected/` costs the poller nothing."""
    import queue

    from axiomd.config import DropRoot
    from axiomd.watcher.sources import Poller

    root = DropRoot("share", tmp_path, "shot", poll=True)
    (tmp_path / "_rejected").mkdir()
    (tmp_path / "kept.mov").write_bytes(b"a")
    inbox: queue.Queue[Path] = queue.Queue()
    poller = Poller(inbox, [".*"], every=60)
    poller.roots[root.name] = root
    poller.poll(root)
    assert inbox.get_nowait() == tmp_path / "kept.mov" and inbox.empty()
    (tmp_path / "_rejected" / "old.mov").write_bytes(b"b")
    (tmp_path / ".hidden.mov").write_bytes(b"c")
    poller.poll(root)
    assert inbox.empty()
    (tmp_path / "kept.mov").write_bytes(b"longer")
    (tmp_path / "new.mov").write_bytes(b"d")
    poller.poll(root)
    assert {inbox.get_nowait(), inbox.get_nowait()} == {tmp_path / "kept.mov",
                                                        tmp_path / "new.mov"}
    (tmp_path / "new.mov").unlink()
    poller.poll(root)
    assert inbox.get_nowait() == tmp_path / "new.mov"
    assert poller.seen["share"].keys() == {str(tmp_path / "kept.mov")}


def test_an_accepted_file_leaves_a_receipt_naming_its_version_and_where_it_is(
        watcher: Watcher, clock: Clock) -> None:
    (drop(watcher) / f"{ASSET}_v001.mov").write_bytes(b"frames")
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 2.0)
    text = (drop(watcher) / "_accepted" / f"{ASSET}_v001.mov.txt").read_text()
    assert f"{ASSET} v001" in text and f"{ASSET}_v001.mov" in text


def test_receipts_older_than_receipt_days_are_pruned(watcher: Watcher, clock: Clock) -> None:
    import os
    import time

    (drop(watcher) / f"{ASSET}_v001.mov").write_bytes(b"frames")
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 2.0)
    old = drop(watcher) / "_accepted" / f"{ASSET}_v001.mov.txt"
    eight_days_ago = time.time() - 8 * 86400
    os.utime(old, (eight_days_ago, eight_days_ago))
    watcher._prune_receipts()
    assert not old.exists()


def test_a_sidecar_gives_the_version_its_note_artist_and_task_and_goes_with_the_file(
        watcher: Watcher, clock: Clock) -> None:
    """A render farm publishing for an artist names the artist in NAME.axiomd.json."""
    folder = drop(watcher)
    (folder / f"{ASSET}_v001.mov").write_bytes(b"frames")
    (folder / f"{ASSET}_v001.mov.axiomd.json").write_text(
        '{"note": "fixed the edge flicker", "user": "alice", "task": "comp"}')
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 2.0)
    [version] = list_versions(watcher.engine, ASSET)
    assert (version.note, version.submitted_by, version.task) == (
        "fixed the edge flicker", "alice", "comp")
    assert not (folder / f"{ASSET}_v001.mov.axiomd.json").exists()


def test_an_unusable_sidecar_refuses_its_file_saying_why_and_both_are_set_aside(
        watcher: Watcher, clock: Clock) -> None:
    folder = drop(watcher)
    (folder / f"{ASSET}_v001.mov").write_bytes(b"frames")
    (folder / f"{ASSET}_v001.mov.axiomd.json").write_text('{"nite": "typo"}')
    turn(watcher, clock, 0.0)
    turn(watcher, clock, 2.0)
    assert list_assets(watcher.engine) == []
    note = (folder / "_rejected" / f"{ASSET}_v001.mov.rejected.txt").read_text()
    assert "unknown key 'nite'" in note
    assert (folder / "_rejected" / f"{ASSET}_v001.mov.axiomd.json").exists()
