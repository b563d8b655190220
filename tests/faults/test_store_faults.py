"""The store runs out of space or turns read-only mid-stream: files wait, then all go in.

The store is a real tmpfs mounted for the test (the tests run as root, as CI does).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import job_t, version_t
from axiomd.store import Store
from tests.helpers import Daemon, noop_preset, read_only, wait_for


def _drop(folder: Path, first: int, count: int) -> dict[str, str]:
    sums = {}
    for i in range(first, first + count):
        data = os.urandom(256 * 1024)
        name = f"TST_SQ010_SH{i:04d}_comp_v001.mov"
        (folder / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def _versions(engine: object) -> dict[str, str]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return dict(conn.execute(select(version_t.c.original_name, version_t.c.checksum)).all())


def _deferred(watcher: Daemon) -> bool:
    return any(e.get("event") == "ingest.deferred" for e in watcher.events())


@pytest.fixture
def setup(write_config: Callable[..., Path], pg_url: str, small_store: Path,
          daemons: Callable[..., Daemon], tmp_path: Path) -> tuple[object, Daemon, Path]:
    config = write_config(pg_url)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    watcher = daemons(config, "watch")
    wait_for(lambda: any(e.get("event") == "watch.started" for e in watcher.events()), 30,
             "the watcher")
    return engine, watcher, tmp_path / "drop" / "comp"


def test_full_store_defers_files_until_space_is_freed(
        setup: tuple[object, Daemon, Path], small_store: Path) -> None:
    engine, watcher, drop = setup
    sums = _drop(drop, 0, 5)
    wait_for(lambda: len(_versions(engine)) == 5, 30, "the first five versions")
    ballast = small_store / "ballast.bin"
    with open(ballast, "wb") as f:
        for _ in range(70):
            f.write(b"\0" * 1024 * 1024)
    sums |= _drop(drop, 5, 10)
    wait_for(lambda: _deferred(watcher), 30, "the watcher to notice the full store")
    assert len(_versions(engine)) == 5
    ballast.unlink()
    wait_for(lambda: len(_versions(engine)) == 15, 60, "all fifteen versions")
    assert _versions(engine) == sums
    assert not [p for p in drop.iterdir() if p.is_file()]
    assert not list((small_store / ".staging").glob("*"))


def test_read_only_store_defers_files_until_it_is_writable_again(
        setup: tuple[object, Daemon, Path], small_store: Path) -> None:
    engine, watcher, drop = setup
    sums = _drop(drop, 0, 3)
    wait_for(lambda: len(_versions(engine)) == 3, 30, "the first three versions")
    with read_only(small_store):
        sums |= _drop(drop, 3, 6)
        wait_for(lambda: _deferred(watcher), 30, "the watcher to notice the read-only store")
        assert len(_versions(engine)) == 3
    wait_for(lambda: len(_versions(engine)) == 9, 60, "all nine versions")
    assert _versions(engine) == sums


def test_version_the_store_refuses_after_commit_is_published_later_and_its_job_waits(
        write_config: Callable[..., Path], pg_url: str, daemons: Callable[..., Daemon],
        tmp_path: Path) -> None:
    """The store refuses the file between staging and publishing (here: something sits where
    the version folder must go). The recorded version is neither lost nor duplicated: the
    watcher keeps the file claimed and publishes it once the store takes it, and its job
    waits for it instead of failing."""
    config = write_config(pg_url, extra=noop_preset(), jobs='["noop"]')
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    blocker = tmp_path / "store" / "TST" / "SQ010" / "SH0001" / "comp" / "v001"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    watcher = daemons(config, "watch")
    worker = daemons(config, "worker")
    drop = tmp_path / "drop" / "comp"
    sums = _drop(drop, 1, 1)

    wait_for(lambda: _deferred(watcher), 30, "the watcher to meet the refusing store")
    wait_for(lambda: any(e.get("event") == "job.postponed" for e in worker.events()), 30,
             "the job to wait for its source")
    with engine.connect() as conn:
        job = conn.execute(select(job_t.c.status, job_t.c.available_at)).one()
    # Parked until its source is published: no retry loop, no row or message per retry.
    assert job.status == "waiting"
    assert (job.available_at - datetime.now(UTC)).total_seconds() > 200
    assert _versions(engine) == sums
    assert not [p for p in drop.iterdir() if p.is_file()]
    blocker.unlink()

    def complete() -> bool:
        with engine.connect() as conn:
            return conn.execute(select(version_t.c.status)).scalar() == "complete"

    wait_for(complete, 60, "the version to be published and complete")
    stored = next(blocker.glob("*.mov"))
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == next(iter(sums.values()))
    assert not (drop / "_duplicates").exists()
    assert not list((tmp_path / "store" / ".staging").glob("*"))


def test_staged_copy_that_cannot_be_discarded_on_a_read_only_store_is_tidied_later(
        small_store: Path, tmp_path: Path) -> None:
    store = Store(small_store)
    source = tmp_path / "refused.mov"
    source.write_bytes(b"frames")
    staged = store.stage(source, "vm.1.refused", link=False)
    with read_only(small_store):
        store.discard_staged(staged.token)
        assert staged.path.exists() and store.leftovers == {staged.token}
        store.tidy()
        assert store.leftovers == {staged.token}
    store.tidy()
    assert not staged.path.exists() and not store.leftovers
    assert source.read_bytes() == b"frames"
