"""One file too big for the store's free space waits alone; a drop root that refuses writes
waits alone. Real watcher, real tmpfs store, a real read-only bind mount."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from tests.faults.test_hostile_integrity import started, versions
from tests.helpers import Daemon, wait_for

MIB = 1024 * 1024
SECOND_ROOT = """
[[watch.roots]]
name = "lighting"
path = "drop/lighting"
naming = "shot"
"""


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()


def sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def small_files(drop: Path, first: int, count: int) -> None:
    for i in range(first, first + count):
        (drop / f"TST_SQ010_SH{i:04d}_comp_v001.mov").write_bytes(os.urandom(4096))


def events(daemon: Daemon, name: str) -> list[dict[str, object]]:
    return [e for e in daemon.events() if e.get("event") == name]


def test_file_too_big_for_the_store_waits_alone_while_others_flow(
        write_config: Callable[..., Path], pg_url: str, engine: Engine, small_store: Path,
        daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """A 90 MiB file for an 80 MiB store waits with its own backoff; twenty small files
    dropped after it go in at once, and no outage is declared."""
    config = write_config(pg_url)
    drop = tmp_path / "drop" / "comp"
    watcher = started(daemons(config, "watch"))
    sparse(drop / "TST_SQ010_SH9000_comp_v001.mov", 90 * MIB)
    wait_for(lambda: events(watcher, "ingest.waiting_for_space"), 30, "the big file to wait")
    begun = time.monotonic()
    small_files(drop, 0, 20)
    wait_for(lambda: len(versions(engine)) == 20, 30, "the twenty small files")
    assert time.monotonic() - begun < 10
    assert events(watcher, "ingest.deferred") == []
    assert (drop / "TST_SQ010_SH9000_comp_v001.mov").exists()


def test_store_headroom_is_the_min_free_bytes_key(
        write_config: Callable[..., Path], pg_url: str, engine: Engine, small_store: Path,
        daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """With `[store] min_free_bytes` at 1 MiB a 60 MiB file fits in an 80 MiB store."""
    config = write_config(pg_url)
    text = config.read_text().replace('[store]\nroot = "store"',
                                      '[store]\nroot = "store"\nmin_free_bytes = 1048576')
    config.write_text(text)
    drop = tmp_path / "drop" / "comp"
    started(daemons(config, "watch"))
    sparse(drop / "TST_SQ010_SH0010_comp_v001.mov", 60 * MIB)
    wait_for(lambda: versions(engine), 60, "the 60 MiB version")


@pytest.fixture
def read_only_root(tmp_path: Path) -> Iterator[Path]:
    """`drop/lighting` bind-mounted read-only over itself, unmounted afterwards."""
    root = tmp_path / "drop" / "lighting"
    root.mkdir(parents=True)
    (root / "TST_SQ010_SH0500_comp_v001.mov").write_bytes(os.urandom(4096))
    subprocess.run(["mount", "--bind", str(root), str(root)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(root)], check=True)
    yield root
    subprocess.run(["umount", "-l", str(root)], check=False)


def test_unwritable_root_is_reported_as_such_and_other_roots_flow(
        write_config: Callable[..., Path], pg_url: str, engine: Engine, read_only_root: Path,
        daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """A read-only drop root gets `watch.root_unwritable`, not 'catalog unreachable'."""
    config = write_config(pg_url, extra=SECOND_ROOT)
    drop = tmp_path / "drop" / "comp"
    watcher = started(daemons(config, "watch"))
    wait_for(lambda: events(watcher, "watch.root_unwritable"), 30, "the unwritable root event")
    begun = time.monotonic()
    small_files(drop, 0, 10)
    wait_for(lambda: len(versions(engine)) == 10, 30, "the other root's files")
    assert time.monotonic() - begun < 10
    assert events(watcher, "ingest.deferred") == []
