"""What is stored is what was hashed: writers that pause, hard links, files not ours.

Real watcher processes on real folders; the copy-mode store is a real tmpfs, so the
drop and the store are on different filesystems and nothing can be hard-linked.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import asset_t, version_t
from tests.helpers import Daemon, nothing_claimed, run_cli, wait_for

NAME = "TST_SQ010_SH0010_comp_v001.mov"
MIB = 1024 * 1024


@pytest.fixture
def env(tmp_path: Path, write_config: Callable[..., Path], pg_url: str
        ) -> Iterator[tuple[Path, Engine, Path]]:
    config = write_config(pg_url, settle=0.3)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    yield config, engine, tmp_path / "drop" / "comp"
    engine.dispose()


def versions(engine: Engine) -> list[tuple[int, str, int, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(version_t.c.number, version_t.c.checksum, version_t.c.size,
                   version_t.c.store_path)
            .join(asset_t, asset_t.c.id == version_t.c.asset_id)
            .order_by(version_t.c.number))]


def started(daemon: Daemon) -> Daemon:
    wait_for(lambda: any(e.get("event") == "watch.started" for e in daemon.events()), 30,
             "the watcher to start")
    return daemon


WRITER = textwrap.dedent("""
    import os, sys, time
    path, pause = sys.argv[1], float(sys.argv[2])
    first, second = bytes.fromhex(sys.argv[3]) * (1 << 20), bytes.fromhex(sys.argv[4]) * (1 << 20)
    with open(path, "wb") as f:
        f.write(first)
        f.flush()
        os.fsync(f.fileno())
        time.sleep(pause)
        f.write(second)
        f.flush()
    print("closed", flush=True)
""")


def pausing_writer(path: Path, pause: float) -> tuple[subprocess.Popen[str], str]:
    """A process writing 1 MiB, pausing `pause` s with the file open, writing 1 MiB more."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(pause), "41", "42"],
                            stdout=subprocess.PIPE, text=True)
    whole = hashlib.sha256(b"A" * MIB + b"B" * MIB).hexdigest()
    return proc, whole


def stored_matches(store: Path, rows: list[tuple[int, str, int, str]]) -> bool:
    return all(hashlib.sha256((store / path).read_bytes()).hexdigest() == checksum
               for _, checksum, _, path in rows)


def check_whole_version_after_pause(config: Path, engine: Engine, drop: Path, store: Path,
                                    daemons: Callable[..., Daemon]) -> Daemon:
    watcher = started(daemons(config, "watch"))
    writer, whole = pausing_writer(drop / NAME, pause=3.0)
    assert writer.wait(timeout=30) == 0
    wait_for(lambda: versions(engine), 30, "a version")
    wait_for(lambda: nothing_claimed(drop) and not (drop / NAME).exists(), 20,
             "the watcher to let go of the file")
    rows = versions(engine)
    assert [(n, c, s) for n, c, s, _ in rows] == [(1, whole, 2 * MIB)]
    assert stored_matches(store, rows)
    assert run_cli("verify", config=config).returncode == 0
    return watcher


def test_writer_pausing_longer_than_settle_is_stored_whole_when_linked(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """Store on the drop's filesystem: a file still open for writing is never linked in."""
    config, engine, drop = env
    watcher = check_whole_version_after_pause(config, engine, drop, tmp_path / "store", daemons)
    assert any(e.get("event") == "ingest.changed_after_claim" for e in watcher.events())


def test_writer_pausing_longer_than_settle_is_stored_whole_when_copied(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon],
        small_store: Path) -> None:
    """Store on a tmpfs: the tail written after the pause is not lost with the drop file."""
    config, engine, drop = env
    watcher = check_whole_version_after_pause(config, engine, drop, small_store, daemons)
    assert any(e.get("event") == "ingest.changed_after_claim" for e in watcher.events())


def test_hard_link_to_a_file_outside_the_root_is_copied_not_linked(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """The outside file keeps its inode, its mode and its bytes out of the store."""
    config, engine, drop = env
    outside = tmp_path / "outside.mov"
    outside.write_bytes(os.urandom(4096))
    outside.chmod(0o664)
    started(daemons(config, "watch"))
    os.link(outside, drop / NAME)
    wait_for(lambda: versions(engine) and nothing_claimed(drop), 30, "the version")
    rows = versions(engine)
    stored = tmp_path / "store" / rows[0][3]
    assert os.stat(stored).st_ino != os.stat(outside).st_ino
    assert outside.stat().st_mode & 0o777 == 0o664
    assert outside.stat().st_nlink == 1
    assert stored_matches(tmp_path / "store", rows)


def test_verify_reports_a_stored_file_that_no_longer_matches_its_checksum(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """`axiomd verify` re-hashes the store: exit 0 when intact, 1 naming what differs."""
    config, engine, drop = env
    started(daemons(config, "watch"))
    (drop / NAME).write_bytes(os.urandom(8192))
    wait_for(lambda: versions(engine) and nothing_claimed(drop), 30, "the version")
    assert run_cli("verify", "TST_SQ010_SH0010_comp", config=config).returncode == 0
    stored = tmp_path / "store" / versions(engine)[0][3]
    stored.chmod(0o644)
    with open(stored, "r+b") as f:
        f.write(b"tampered")
    result = run_cli("verify", config=config)
    assert result.returncode == 1
    assert "TST_SQ010_SH0010_comp v001" in result.stdout + result.stderr


def test_verify_rehashes_every_frame_of_a_sequence(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """A sequence's manifest checksum is recomputed from its frames; one changed frame fails."""
    config, engine, drop = env
    started(daemons(config, "watch"))
    for frame in (1001, 1002, 1003):
        (drop / f"TST_SQ010_SH0010_comp_v001.{frame}.png").write_bytes(os.urandom(2048))
    wait_for(lambda: versions(engine) and nothing_claimed(drop), 30, "the sequence version")
    assert run_cli("verify", config=config).returncode == 0
    folder = (tmp_path / "store" / versions(engine)[0][3]).parent
    frame = sorted(folder.iterdir())[1]
    frame.chmod(0o644)
    frame.write_bytes(os.urandom(2048))
    result = run_cli("verify", "--json", config=config)
    assert result.returncode == 1 and '"version": "v001"' in result.stdout
