"""Everything tests share that is not a fixture: builders, real processes, waiting.

No fixtures here (they are in conftest.py), so subprocesses can import it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pika
import psycopg2
from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd.app import App
from axiomd.catalog import jobs, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import asset_t, job_t, version_t
from axiomd.catalog.versions import (
    JobSpec,
    NewVersion,
    VersionInfo,
    allocate_version,
    allocate_versions,
    get_version,
)
from axiomd.config import load_config
from axiomd.consumers.runner import JobRunner
from axiomd.store import Store, version_relpath

AMQP_BASE = os.environ.get("AXIOMD_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
PG_ADMIN = os.environ.get("AXIOMD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

PROBE = [JobSpec("probe", "probe")]


def new_version(asset: str = "TST_SQ010_SH0010_comp", content: str | None = None,
                **changes: object) -> NewVersion:
    """A NewVersion for the shot rule's asset with unique content unless given."""
    content = content if content is not None else uuid.uuid4().hex
    show, seq, shot, task = asset.split("_")
    fields: dict[str, object] = {
        "asset": asset,
        "naming": "shot",
        "identity": {"show": show, "seq": seq, "shot": shot, "task": task},
        "checksum": hashlib.sha256(content.encode()).hexdigest(),
        "size": len(content),
        "original_name": f"{asset}.mov",
        "store_path": lambda n: version_relpath([show, seq, shot, task], n, f"{asset}_v{n:03d}.mov"),
    }
    fields.update(changes)
    return NewVersion(**fields)  # type: ignore[arg-type]


def allocate_many(url: str, asset: str, count: int) -> list[int]:
    """Allocate `count` versions in this process; used from subprocesses by the race test."""
    engine = make_engine(url, pool_size=1)
    numbers = [allocate_version(engine, new_version(asset), PROBE, with_outbox=True).number
               for _ in range(count)]
    engine.dispose()
    return numbers


def allocate_batches(url: str, assets: list[str], batches: int) -> list[tuple[str, int]]:
    """`batches` group commits, each one version of every asset in `assets`; the
    (asset, number) pairs this process got. Used from subprocesses by the race test."""
    engine = make_engine(url, pool_size=1)
    got = []
    for _ in range(batches):
        made = allocate_versions(engine, [new_version(a) for a in assets], PROBE,
                                 with_outbox=True)
        got += [(v.asset, v.number) for v in made if isinstance(v, VersionInfo)]
    engine.dispose()
    return got


def nothing_claimed(drop: Path) -> bool:
    """No watcher holds a file of this drop root in its claim folder (journals aside):
    once the inputs are gone from the drop folder too, nothing more can happen."""
    claims = drop / ".axiomd" / "claims"
    return not any(p.is_file() and p.name != "claims.jsonl" for p in claims.glob("*/*"))


def started(daemon: Daemon) -> Daemon:
    wait_for(lambda: any(e.get("event") == "watch.started" for e in daemon.events()), 30,
             "the watcher to start")
    return daemon


def versions(engine: Engine) -> list[tuple[str, int, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(asset_t.c.name, version_t.c.number, version_t.c.checksum,
                   version_t.c.store_path)
            .join(asset_t, asset_t.c.id == version_t.c.asset_id)
            .order_by(asset_t.c.name, version_t.c.number))]


def drop_files(folder: Path, names: list[str]) -> dict[str, str]:
    """Write files with unique content; returns name → sha256."""
    sums = {}
    for name in names:
        data = os.urandom(256) + name.encode()
        (folder / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def left_in_drop(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()
            and not p.relative_to(folder).parts[0].startswith(("_", ".axiomd"))]


def run_cli(*args: str, config: Path | None = None, check: bool = False,
            env: dict[str, str] | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run the real `axiomd` command line in a subprocess."""
    cmd = [sys.executable, "-m", "axiomd"]
    if config is not None:
        cmd += ["--config", str(config)]
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([*cmd, *args], capture_output=True, text=True, env=full_env,
                            cwd=cwd, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"axiomd {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


class MadeAhead:
    """Fresh server resources (databases, vhosts), one per test, made and removed off the
    tests' own time.

    Making or removing one costs a few tenths of a second (a `rabbitmqctl` call more
    than half a second). The next one is made on a background thread while a test runs,
    and used ones are removed there; each test still gets one nobody used before. What
    the background could not do (a test had the server stopped) is done in the
    foreground instead, or at `close`.
    """

    def __init__(self, kind: str, make: Callable[[], str], remove: Callable[[str], object]
                 ) -> None:
        self._make, self._remove = make, remove
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix=kind)
        self._next: Future[str] | None = None
        self._removing: list[tuple[str, Future[object]]] = []

    def take(self) -> str:
        ready, self._next = self._next, self._background.submit(self._make)
        if ready is not None:
            with suppress(Exception):
                return ready.result()
        return self._make()

    def give_back(self, name: str) -> None:
        self._removing.append((name, self._background.submit(self._remove, name)))

    def close(self) -> None:
        if self._next is not None:
            with suppress(Exception):
                self.give_back(self._next.result())
        self._background.shutdown(wait=True)
        for name, removed in self._removing:
            if removed.exception() is not None:
                self._remove(name)


def make_vhost() -> str:
    vhost = f"axt-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return vhost


def delete_vhost(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost)


def _pg_admin_run(statement: str) -> None:
    conn = psycopg2.connect(PG_ADMIN, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def make_database() -> str:
    name = f"axt_{uuid.uuid4().hex[:12]}"
    _pg_admin_run(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    _pg_admin_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Daemon:
    """A real axiomd process, its output in a log file the test can read."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None,
                 host: str | None = None, pid_one: bool = False) -> None:
        self.log_path = config.parent / f"{args[0]}-{uuid.uuid4().hex[:6]}.log"
        self.pid_one = pid_one
        self._terminated = False
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "axiomd", "--config", str(config), *args]
        if host is not None:  # a separate host: its own UTS namespace and hostname
            # pid_one: a container's main process, PID 1 at every start
            pid = ["--pid", "--fork", "--kill-child"] if pid_one else []
            command = ["unshare", "--uts", *pid, "sh", "-c", f'hostname {host} && exec "$@"',
                       "sh", *command]
        self.proc = subprocess.Popen(
            command,
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},
        )

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def terminate(self) -> None:
        """SIGTERM to axiomd itself: `unshare --fork` neither passes it on nor dies of it,
        so a PID-1 daemon is signalled directly (as a container runtime does). Once only:
        a second SIGTERM would tell the daemon to abort its current job."""
        if self.proc.poll() is not None or self._terminated:
            return
        self._terminated = True
        target = self.proc.pid
        if self.pid_one:
            children = Path(f"/proc/{target}/task/{target}/children")
            with suppress(OSError, ValueError, IndexError):
                target = int(children.read_text().split()[0])
        with suppress(ProcessLookupError):
            os.kill(target, signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        self.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._hung(timeout)
        self._log.close()
        return self.proc.returncode

    def _hung(self, timeout: float) -> None:
        """A daemon that outlived SIGTERM: SIGABRT makes Python's faulthandler write every
        thread's stack to its log, which a warning then shows; then it is killed."""
        with suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGABRT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        tail = self.log_path.read_text(errors="replace")[-6000:]
        warnings.warn(f"{self.proc.args} did not exit within {timeout} s of SIGTERM; "
                      f"its log ends:\n{tail}", stacklevel=2)


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             every: float = 0.2) -> None:
    """Poll until `predicate()` is truthy; fail the test saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    if not predicate():
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


NOOP = [JobSpec("noop", "noop")]


def noop_preset(sleep: float = 0.0, fail: str | None = None) -> str:
    text = f"\n[transcode.presets.noop]\nkind = \"noop\"\nsleep_seconds = {sleep}\n"
    return text + (f"fail_message = \"{fail}\"\n" if fail else "")


@contextmanager
def read_only(store: Path) -> Iterator[None]:
    """The store read-only for the duration, writable again afterwards.

    The kernel refuses to remount read-only ("busy") while a file is open for writing,
    which a daemon copying into the store may have at any instant; so ask again briefly.
    """
    _remount(store, "ro")
    try:
        yield
    finally:
        _remount(store, "rw")


def _remount(store: Path, mode: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        done = subprocess.run(["mount", "-o", f"remount,{mode}", str(store)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        if "busy" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(f"mount -o remount,{mode} {store}: {done.stderr.strip()}")
        time.sleep(0.02)


def add_versions(engine: Engine, config_path: Path, count: int) -> list[int]:
    """Versions with real files in the store, their noop jobs in the outbox."""
    config = load_config(config_path)
    store = Store(config.store_root)
    ids = []
    for _ in range(count):
        v = allocate_version(engine, new_version(), NOOP, with_outbox=True)
        path = store.path(v.store_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        ids.append(v.id)
    return ids


def job_states(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(r.status, r.attempts) for r in conn.execute(
            select(job_t.c.status, job_t.c.attempts).order_by(job_t.c.id))]


def all_done(engine: Engine) -> bool:
    states = job_states(engine)
    return bool(states) and all(s == "done" for s, _ in states)


def dead_letter_count(broker_url: str, prefix: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        return conn.channel().queue_declare(f"{prefix}.dead", passive=True).method.message_count
    finally:
        conn.close()


CONFIG_TEMPLATE = """
[database]
url = "{db_url}"

[broker]
url = "{broker_url}"
prefix = "{prefix}"

[store]
root = "store"

[watch]
settle_seconds = {settle}
rescan_seconds = {rescan}
sequence_settle_seconds = {sequence_settle}
{extra_watch}

[[watch.roots]]
name = "comp"
path = "drop/comp"
naming = "shot"

[naming.shot]
template = "{{show}}_{{seq}}_{{shot}}_{{task}}_v{{version}}.{{ext}}"
identity = ["show", "seq", "shot", "task"]
version_policy = "{policy}"
[naming.shot.fields]
show = "[A-Z][A-Z0-9]{{1,7}}"
seq = "SQ[0-9]{{3,4}}"
shot = "SH[0-9]{{4}}"
task = "[a-z][a-z0-9]{{1,15}}"
version = "[0-9]{{3,4}}"
ext = ["mov", "mp4", "mxf", "exr", "dpx", "png", "jpg", "tif", "wav", "txt"]

[worker]
max_attempts = {max_attempts}
lease_seconds = {lease}
retry_delays = {retry_delays}
{extra_worker}

[transcode]
jobs = {jobs}

[logging]
format = "json"
level = "{level}"
"""


def config_file(folder: Path, db_url: str, broker_url: str = "", extra: str = "",
                **overrides: object) -> Path:
    """`folder`/axiomd.toml (drop root `comp`, store `store/`), test timings unless given."""
    values: dict[str, object] = {
        "db_url": db_url, "broker_url": broker_url, "prefix": f"t{uuid.uuid4().hex[:8]}",
        "settle": 0.3, "rescan": 60, "sequence_settle": 0.8, "policy": "reject",
        "max_attempts": 3, "lease": 30,
        "retry_delays": "[0.2, 0.5]", "jobs": '["probe"]', "level": "info", "extra_worker": "",
        "extra_watch": "",
    }
    values.update(overrides)
    text = textwrap.dedent(CONFIG_TEMPLATE.format(**values)) + textwrap.dedent(extra)
    path = folder / "axiomd.toml"
    path.write_text(text)
    (folder / "drop" / "comp").mkdir(parents=True, exist_ok=True)
    return path


ASSET = "TST_SQ010_SH0010_comp"


ALL_JOBS = '["probe", "proxy_h264", "thumbnail"]'


def make_clip(path: Path, *, size: str = "1280x720", seconds: float = 2.0, rate: int = 24,
              codec: list[str] | None = None, audio: bool = True) -> Path:
    codec = codec or ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"]
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac"]
    args += ["-t", str(seconds), *codec, str(path)]
    subprocess.run(args, check=True)
    return path


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def run_all_jobs(app: App) -> None:
    """Drain the catalog's queue with a real JobRunner in this process."""
    runner = JobRunner(app.config, app.engine, app.store, owner="test-worker")
    while (job := jobs.claim_next(app.engine, "test-worker", 60)) is not None:
        runner.run(job)


def ingest(app: App, source: Path) -> None:
    rule = app.ingestor.rule_for_path(source, "comp")
    assert app.ingestor.ingest(source, rule, link=False).status == "accepted"


def slow_proxy(x264_preset: str) -> str:
    return f"""
        [transcode.presets.proxy_h264]
        kind = "proxy"
        x264_preset = "{x264_preset}"
        """


def start_slow_transcode(config_path: Path, tmp_path: Path, daemons: Callable[..., Daemon],
                         size: str, seconds: int) -> tuple[App, Daemon]:
    """A version whose proxy takes a while, and a worker seen writing its partial output."""
    app = App(load_config(config_path))
    schema.upgrade(app.engine)
    ingest(app, make_clip(tmp_path / f"{ASSET}_v001.mov", size=size, seconds=seconds,
                          audio=False))
    worker = daemons(config_path, "worker")
    wait_for(lambda: list(app.store.root.rglob(".partial-*")), 60, "the transcode to start")
    return app, worker


QUIET = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]


PICTURE = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def ffmpeg(*args: str) -> None:
    subprocess.run([*QUIET, *args], check=True)


def probe(path: Path, *extra: str) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", *extra, str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def video_of(path: Path) -> dict[str, Any]:
    return next(s for s in probe(path, "-count_packets")["streams"]
                if s["codec_type"] == "video")


def outputs(app: App) -> dict[str, Path]:
    """preset → stored output path, for the one version's finished jobs."""
    found = {}
    for job in jobs.list_jobs(app.engine):
        for key, value in (job.outputs or {}).items():
            if key == job.preset and isinstance(value, str):
                found[key] = app.store.path(value)
    return found


def versioned(app: App, source: Path) -> Any:
    ingest(app, source)
    run_all_jobs(app)
    return get_version(app.engine, ASSET, 1)
