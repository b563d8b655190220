"""One continuous stream of drops through watcher, relay and workers while faults come in turn.

Artists keep dropping files (good ones, badly named ones, re-saves of the same content)
the whole time. Meanwhile, one after another: the watcher and a worker are killed with
`kill -9` and restarted, RabbitMQ is restarted, PostgreSQL stops answering, the store's
disk fills up, and the store turns read-only. When the stream stops and the faults have
cleared, every file is accounted for exactly once and the catalog is whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import asset_t, job_t, outbox_t, version_t
from axiomd.watcher.drop import ACCEPTED, DUPLICATES, REJECTED, WORKDIR
from tests.helpers import Daemon, noop_preset, rabbitmqctl, read_only, wait_for
from tests.tcpproxy import TcpProxy

ASSETS = 12


class DropStream(threading.Thread):
    """An artist who never stops: a file every `every` seconds, remembering what each was."""

    def __init__(self, folder: Path, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.folder, self.every = folder, every
        self.content: dict[str, str] = {}  # name -> sha256 of what was dropped under it
        self.badly_named: set[str] = set()
        self.resaves: dict[str, str] = {}  # name -> an earlier name with the same content
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._drop_until_halted()
        except BaseException as exc:
            self.error = exc
            raise

    def _drop_until_halted(self) -> None:
        saves: dict[int, list[tuple[str, bytes]]] = {}
        i = 0
        while not self._halt.is_set():
            i += 1
            shot = i % ASSETS
            earlier = saves.setdefault(shot, [])
            name = f"TST_SQ010_SH{shot:04d}_comp_v{len(earlier) + 1:03d}.mov"
            if i % 11 == 0:
                name, data = f"shot {i} final FINAL.mov", os.urandom(2048)
                self.badly_named.add(name)
            elif i % 7 == 0 and earlier:
                first_name, data = earlier[0]
                self.resaves[name] = first_name
                earlier.append((name, data))
            else:
                data = os.urandom(8192)
                earlier.append((name, data))
            (self.folder / name).write_bytes(data)
            self.content[name] = hashlib.sha256(data).hexdigest()
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        if self.error is not None:
            raise AssertionError("the drop stream itself failed") from self.error


class Pipeline:
    """The daemons of one studio host, restartable one at a time."""

    def __init__(self, config: Path, daemons: Callable[..., Daemon]) -> None:
        self.config, self.daemons = config, daemons
        self.watcher = daemons(config, "watch")
        self.relay = daemons(config, "relay")
        self.workers = [daemons(config, "worker"), daemons(config, "worker")]

    def deferrals(self) -> int:
        return sum(e.get("event") == "ingest.deferred" for e in self.watcher.events())

    def alive(self) -> bool:
        return all(d.proc.poll() is None for d in (self.watcher, self.relay, *self.workers))


@pytest.fixture
def broker_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(5672)
    yield proxy
    proxy.cut()


def _catalog(engine: Engine) -> tuple[dict[str, str], dict[str, list[int]], set[str]]:
    """(name -> checksum, asset -> numbers, store paths) of every version."""
    with engine.connect() as conn:
        rows = conn.execute(select(asset_t.c.name, version_t.c.number, version_t.c.original_name,
                                   version_t.c.checksum, version_t.c.store_path)
                            .join(asset_t, asset_t.c.id == version_t.c.asset_id)).all()
    numbers: dict[str, list[int]] = {}
    for row in rows:
        numbers.setdefault(row.name, []).append(row.number)
    return ({r.original_name: r.checksum for r in rows}, numbers, {r.store_path for r in rows})


def _set_aside(drop: Path, folder: str, note_suffix: str) -> list[str]:
    return [p.name for p in (drop / folder).glob("*") if not p.name.endswith(note_suffix)]


def _settled(engine: Engine, stream: DropStream, drop: Path) -> bool:
    names, _, _ = _catalog(engine)
    seen = len(names) + len(_set_aside(drop, REJECTED, ".rejected.txt")) \
        + len(_set_aside(drop, DUPLICATES, ".duplicate.txt"))
    with engine.connect() as conn:
        unfinished = conn.execute(select(func.count()).select_from(job_t)
                                  .where(job_t.c.status != "done")).scalar()
    return seen == len(stream.content) and unfinished == 0


def _cut_for(proxy: TcpProxy, seconds: float) -> None:
    proxy.cut()
    try:
        time.sleep(seconds)
    finally:
        proxy.restore()


def _fill(store: Path) -> Path:
    """Write ballast until the store's disk is full (the watcher keeps using it meanwhile)."""
    ballast = store / "ballast.bin"
    chunk = b"\0" * (1024 * 1024)
    with open(ballast, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while f.write(chunk):
            pass
    return ballast


def test_every_file_is_accounted_for_once_through_a_stream_of_faults(
        write_config: Callable[..., Path], pg_url: str, broker_url: str,
        broker_proxy: TcpProxy, small_store: Path, daemons: Callable[..., Daemon],
        tmp_path: Path) -> None:
    pg_proxy = TcpProxy(5432)
    config = write_config(
        pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}"),
        broker_url.replace("127.0.0.1:5672", f"127.0.0.1:{broker_proxy.port}"),
        extra=noop_preset(sleep=0.1), jobs='["noop"]', policy="renumber", lease=3,
        # a re-save set aside as a duplicate leaves a gap in its asset's numbers: the
        # files after it wait gap_wait_seconds, then are renumbered
        extra_watch="gap_wait_seconds = 1")
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    drop = tmp_path / "drop" / "comp"
    pipeline = Pipeline(config, daemons)
    wait_for(lambda: any(e.get("event") == "watch.started" for e in pipeline.watcher.events()),
             30, "the watcher")
    stream = DropStream(drop)
    stream.start()

    def breathe() -> None:
        """Let the stream run undisturbed, and check the pipeline keeps up with it."""
        before = len(_catalog(engine)[0])
        wait_for(lambda: len(_catalog(engine)[0]) > before + 10, 60, "ingest to carry on")

    try:
        breathe()
        pipeline.watcher.kill()
        time.sleep(1)
        pipeline.watcher = daemons(config, "watch")
        breathe()

        worker = pipeline.workers[0]
        wait_for(lambda: (worker.events() or [{}])[-1].get("event") == "job.started", 30,
                 "the worker to be in the middle of a job", every=0.01)
        worker.kill()
        pipeline.workers[0] = daemons(config, "worker")
        breathe()

        rabbitmqctl("stop_app")
        try:
            time.sleep(2)
        finally:
            rabbitmqctl("start_app")
        breathe()

        _cut_for(broker_proxy, 3)
        breathe()

        _cut_for(pg_proxy, 4)
        breathe()

        deferred = pipeline.deferrals()
        ballast = _fill(small_store)
        wait_for(lambda: pipeline.deferrals() > deferred, 30, "the watcher to meet the full disk")
        ballast.unlink()
        breathe()

        deferred = pipeline.deferrals()
        with read_only(small_store):
            wait_for(lambda: pipeline.deferrals() > deferred, 30,
                     "the watcher to meet the read-only store")
        breathe()
    finally:
        stream.stop()

    wait_for(lambda: _settled(engine, stream, drop), 120, "every dropped file to be settled")
    assert pipeline.alive()

    names, numbers, store_paths = _catalog(engine)
    rejected = _set_aside(drop, REJECTED, ".rejected.txt")
    duplicates = _set_aside(drop, DUPLICATES, ".duplicate.txt")
    assert Counter([*names, *rejected, *duplicates]) == Counter(list(stream.content))
    assert set(rejected) == stream.badly_named
    for resave, first in stream.resaves.items():
        assert (resave in names) != (first in names), (resave, first)
        assert resave in duplicates or first in duplicates
    assert all(names[n] == stream.content[n] for n in names)
    assert all(sorted(ns) == list(range(1, len(ns) + 1)) for ns in numbers.values())

    def unsent() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox_t)
                                    .where(outbox_t.c.sent_at.is_(None))).scalar_one())

    # the last `version.complete` events may still be on their way to RabbitMQ
    wait_for(lambda: unsent() == 0, 30, "the outbox drained")
    with engine.connect() as conn:
        assert set(conn.execute(select(version_t.c.status)).scalars()) == {"complete"}
    in_store = {str(p.relative_to(small_store)) for p in small_store.rglob("*")
                if p.is_file() and ".staging" not in p.parts}
    assert in_store == store_paths
    assert not list((small_store / ".staging").glob("*"))
    loose = [p for p in drop.rglob("*") if p.is_file()
             and not {REJECTED, DUPLICATES, ACCEPTED} & set(p.relative_to(drop).parts)
             and p.name != "claims.jsonl"]
    assert loose == [], f"files left behind in the drop root: {loose}"
    assert (drop / WORKDIR).is_dir()
    pg_proxy.cut()
    engine.dispose()
