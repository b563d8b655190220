"""The watcher daemon, run as a real process on real folders against PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from tests.helpers import (
    Daemon,
    drop_files,
    left_in_drop,
    nothing_claimed,
    started,
    versions,
    wait_for,
)
from tests.tcpproxy import TcpProxy


@pytest.fixture
def env(tmp_path: Path, write_config: Callable[..., Path], pg_url: str
        ) -> Callable[..., tuple[Path, Engine, Path]]:
    """(config, engine, drop folder) on this test's own PostgreSQL database."""

    def make(db_url: str | None = None, **overrides: object) -> tuple[Path, Engine, Path]:
        config = write_config(db_url or pg_url, **overrides)
        engine = make_engine(pg_url)
        schema.upgrade(engine)
        return config, engine, tmp_path / "drop" / "comp"

    return make


def set_aside(folder: Path, sub: str) -> list[str]:
    return sorted(p.name for p in (folder / sub).glob("*") if not p.name.endswith(".txt"))


def test_slowly_written_file_is_ingested_once_and_complete(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """A file copied in chunks for longer than the settle time is taken whole, once."""
    config, engine, drop = env()
    started(daemons(config, "watch"))
    digest = hashlib.sha256()
    with open(drop / "TST_SQ010_SH0010_comp_v001.mov", "wb") as f:
        for _ in range(15):
            chunk = os.urandom(64 * 1024)
            f.write(chunk)
            f.flush()
            digest.update(chunk)
            time.sleep(0.1)
    wait_for(lambda: versions(engine), 30, "the version")
    wait_for(lambda: nothing_claimed(drop), 10, "the watcher to let go of what it claimed")
    rows = versions(engine)
    assert len(rows) == 1 and rows[0][2] == digest.hexdigest()
    assert left_in_drop(drop) == []


def test_files_present_before_start_are_ingested(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """Reconciliation at start finds what was dropped while the watcher was down."""
    config, engine, drop = env()
    sums = drop_files(drop, [f"TST_SQ010_SH{i:04d}_comp_v001.mov" for i in range(5)])
    daemons(config, "watch")
    wait_for(lambda: len(versions(engine)) == 5, 30, "five versions")
    assert {r[2] for r in versions(engine)} == set(sums.values())


def test_burst_of_2000_files_is_ingested_dense_and_complete(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """20 assets x 100 versions dropped at once: every file a version, numbers 1..100 each."""
    config, engine, drop = env()
    started(daemons(config, "watch"))
    names = [f"TST_SQ010_SH{a:04d}_comp_v{v:03d}.mov" for v in range(1, 101) for a in range(20)]
    sums = drop_files(drop, names)
    wait_for(lambda: len(versions(engine)) >= 2000 or set_aside(drop, "_rejected"), 240,
             "2000 versions")
    assert set_aside(drop, "_rejected") == []
    rows = versions(engine)
    assert len(rows) == 2000
    per_asset: dict[str, list[int]] = {}
    for asset, number, _, _ in rows:
        per_asset.setdefault(asset, []).append(number)
    assert all(nums == list(range(1, 101)) for nums in per_asset.values())
    assert {r[2] for r in rows} == set(sums.values())


def test_kill_9_during_a_burst_then_restart_accounts_for_every_file_once(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon],
        tmp_path: Path) -> None:
    """After kill -9 and restart every file is a version exactly once; no partial store files."""
    config, engine, drop = env()
    first = started(daemons(config, "watch"))
    names = [f"TST_SQ010_SH{i:04d}_comp_v001.mov" for i in range(400)]
    sums = drop_files(drop, names)
    wait_for(lambda: len(versions(engine)) >= 40, 60, "ingest to be under way")
    first.kill()
    daemons(config, "watch")
    wait_for(lambda: len(versions(engine)) == 400, 120, "all 400 versions after restart")
    wait_for(lambda: nothing_claimed(drop), 10, "the watcher to let go of what it claimed")
    rows = versions(engine)
    assert len(rows) == 400 and {r[2] for r in rows} == set(sums.values())
    assert left_in_drop(drop) == []
    assert set_aside(drop, "_rejected") == [] and set_aside(drop, "_duplicates") == []
    store = tmp_path / "store"
    assert not any((store / ".staging").glob("*/*"))
    for _, _, checksum, path in rows:
        assert hashlib.sha256((store / path).read_bytes()).hexdigest() == checksum


def test_database_outage_defers_files_and_loses_none(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon],
        pg_url: str, tmp_path: Path) -> None:
    """With PostgreSQL unreachable files wait in the drop folder, then all go in. The 20
    files make two chunks: the second, staged while the first met the outage, goes back
    too, and neither leaves a staged copy in the store."""
    proxy = TcpProxy(5432)
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    config, engine, drop = env(db_url=via_proxy)
    watcher = started(daemons(config, "watch"))
    drop_files(drop, [f"TST_SQ010_SH{i:04d}_comp_v001.mov" for i in range(10)])
    wait_for(lambda: len(versions(engine)) == 10, 30, "the first ten versions")
    proxy.cut()
    drop_files(drop, [f"TST_SQ010_SH{i:04d}_comp_v001.mov" for i in range(10, 30)])
    wait_for(lambda: any(e.get("event") == "ingest.deferred" for e in watcher.events()), 30,
             "the watcher to notice the outage")
    staging = tmp_path / "store" / ".staging"
    wait_for(lambda: len(left_in_drop(drop)) == 20 and not any(staging.iterdir()), 10,
             "every file back in the drop folder, nothing staged in the store")
    proxy.restore()
    wait_for(lambda: len(versions(engine)) == 30, 90, "all thirty versions after the outage")
    assert left_in_drop(drop) == [] and watcher.proc.poll() is None


def test_badly_named_file_goes_to_rejected_with_a_readable_note(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """The artist finds the file in _rejected/ and a note naming the field and an example."""
    config, engine, drop = env()
    started(daemons(config, "watch"))
    drop_files(drop, ["TST_SQ010_SH10_comp_v001.mov"])
    note = drop / "_rejected" / "TST_SQ010_SH10_comp_v001.mov.rejected.txt"
    wait_for(note.exists, 30, "the rejection note")
    text = note.read_text()
    assert "field 'shot'" in text and "TST_SQ010_SH0010_comp_v001.mov" in text
    assert (drop / "_rejected" / "TST_SQ010_SH10_comp_v001.mov").exists()
    assert versions(engine) == []


def test_same_content_again_goes_to_duplicates_naming_the_version(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    config, engine, drop = env()
    started(daemons(config, "watch"))
    (drop / "TST_SQ010_SH0010_comp_v001.mov").write_bytes(b"same")
    wait_for(lambda: len(versions(engine)) == 1, 30, "v001")
    (drop / "TST_SQ010_SH0010_comp_v002.mov").write_bytes(b"same")
    note = drop / "_duplicates" / "TST_SQ010_SH0010_comp_v002.mov.duplicate.txt"
    wait_for(note.exists, 30, "the duplicate note")
    assert "v001" in note.read_text()


def test_hidden_and_temporary_files_are_left_alone(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """Files matching the ignore globs are neither ingested nor rejected."""
    config, engine, drop = env()
    started(daemons(config, "watch"))
    ignored = [".TST_SQ010_SH0010_comp_v001.mov", "TST_SQ010_SH0010_comp_v001.mov.part",
               "x.tmp", "~lock.mov", "clip.crdownload"]
    drop_files(drop, ignored)
    drop_files(drop, ["TST_SQ010_SH0011_comp_v001.mov"])
    wait_for(lambda: len(versions(engine)) == 1, 30, "the one real file")
    wait_for(lambda: nothing_claimed(drop), 10, "the watcher to let go of what it claimed")
    assert sorted(p.name for p in left_in_drop(drop)) == sorted(ignored)
    assert not (drop / "_rejected").exists()


def test_symlink_to_outside_the_root_is_ignored_with_a_warning(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon],
        tmp_path: Path) -> None:
    """Symlinks are never followed: the target outside stays untouched and is not ingested."""
    config, engine, drop = env()
    watcher = started(daemons(config, "watch"))
    secret = tmp_path / "outside.mov"
    secret.write_bytes(b"not yours")
    (drop / "TST_SQ010_SH0010_comp_v001.mov").symlink_to(secret)
    wait_for(lambda: any(e.get("event") == "ingest.symlink_ignored" for e in watcher.events()),
             30, "the symlink warning")
    assert versions(engine) == []
    assert secret.read_bytes() == b"not yours"


def test_two_watchers_on_one_root_never_ingest_a_file_twice(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """Claiming by rename: of two watchers, exactly one takes each file."""
    config, engine, drop = env()
    started(daemons(config, "watch"))
    started(daemons(config, "watch"))
    sums = drop_files(drop, [f"TST_SQ010_SH{i:04d}_comp_v001.mov" for i in range(300)])
    wait_for(lambda: len(versions(engine)) >= 300, 90, "300 versions")
    wait_for(lambda: nothing_claimed(drop), 10, "the watchers to let go of what they claimed")
    rows = versions(engine)
    assert len(rows) == 300 and {r[2] for r in rows} == set(sums.values())
    assert not (drop / "_duplicates").exists() and not (drop / "_rejected").exists()


SHARE_ROOT = """
[[watch.roots]]
name = "share"
path = "drop/share"
naming = "shot"
poll = true
"""


def test_polled_root_for_network_shares_is_ingested_without_inotify(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon],
        tmp_path: Path) -> None:
    """A root marked poll = true (SMB/NFS) is watched by polling and ingests the same way."""
    share = tmp_path / "drop" / "share"
    share.mkdir(parents=True)
    config, engine, _ = env(extra=SHARE_ROOT)
    started(daemons(config, "watch"))
    sums = drop_files(share, ["TST_SQ010_SH0020_comp_v001.mov"])
    wait_for(lambda: versions(engine), 30, "the version from the polled root")
    assert versions(engine)[0][2] == sums["TST_SQ010_SH0020_comp_v001.mov"]


@contextlib.contextmanager
def inotify_watch_limit(limit: int) -> Iterator[None]:
    """Lower the machine's inotify watch limit for a moment (tests run as root, as CI does)."""
    knob = Path("/proc/sys/fs/inotify/max_user_watches")
    before = knob.read_text()
    knob.write_text(str(limit))
    try:
        yield
    finally:
        knob.write_text(before)


def test_root_falls_back_to_polling_when_inotify_watches_run_out(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """max_user_watches exhausted: a clear error in the log, then the root is polled."""
    config, engine, drop = env()
    (drop / "SQ010").mkdir()
    with inotify_watch_limit(1):
        watcher = started(daemons(config, "watch"))
    exhausted = [e for e in watcher.events() if e.get("event") == "watch.inotify_exhausted"]
    assert len(exhausted) == 1 and exhausted[0]["fallback"] == "polling"
    assert "max_user_watches" in str(exhausted[0]["hint"])
    sums = drop_files(drop / "SQ010", ["TST_SQ010_SH0040_comp_v001.mov"])
    wait_for(lambda: versions(engine), 30, "the version from the polled root")
    assert versions(engine)[0][2] == sums["TST_SQ010_SH0040_comp_v001.mov"]


def test_a_folder_that_cannot_be_watched_later_turns_the_root_to_polling(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon]) -> None:
    """Watches run out after start: the new folder's files are still found, by polling."""
    config, engine, drop = env()
    watcher = started(daemons(config, "watch"))
    with inotify_watch_limit(1):
        (drop / "SQ020").mkdir()
        wait_for(lambda: any(e.get("event") == "watch.inotify_exhausted"
                             for e in watcher.events()), 30, "the exhausted watches to be said")
    sums = drop_files(drop / "SQ020", ["TST_SQ020_SH0010_comp_v001.mov"])
    wait_for(lambda: versions(engine), 30, "the version from the new folder")
    assert versions(engine)[0][2] == sums["TST_SQ020_SH0010_comp_v001.mov"]


def test_root_that_disappears_is_reported_waited_for_and_picked_up_again(
        env: Callable[..., tuple[Path, Engine, Path]], daemons: Callable[..., Daemon],
        tmp_path: Path) -> None:
    """An unmounted share is an error in the log, not 'all files deleted'; back, it works."""
    config, engine, drop = env()
    watcher = started(daemons(config, "watch"))
    away = tmp_path / "unmounted"
    drop.rename(away)
    wait_for(lambda: any(e.get("event") == "watch.root_missing" for e in watcher.events()), 30,
             "the missing root to be reported")
    drop_files(away, ["TST_SQ010_SH0030_comp_v001.mov"])
    away.rename(drop)
    wait_for(lambda: any(e.get("event") == "watch.root_back" for e in watcher.events()), 30,
             "the root to be back")
    wait_for(lambda: len(versions(engine)) == 1, 30, "the file dropped while it was away")
    drop_files(drop, ["TST_SQ010_SH0031_comp_v001.mov"])
    wait_for(lambda: len(versions(engine)) == 2, 30, "a file dropped after it came back")
    assert watcher.proc.poll() is None
