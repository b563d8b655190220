"""What operators rely on: systemd notify, clean SIGTERM, JSON logs, health (units: test_units.py)."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from axiomd.catalog import jobs
from axiomd.catalog.versions import get_version
from tests.helpers import (
    ASSET,
    Daemon,
    run_cli,
    slow_proxy,
    start_slow_transcode,
    wait_for,
)
from tests.tcpproxy import TcpProxy

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_FIELDS = {"event", "level", "timestamp", "service", "host", "pid"}


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield sock, path
    sock.close()


def _messages(sock: socket.socket, seconds: float,
              enough: Callable[[list[str]], bool]) -> list[str]:
    """What arrives within `seconds`, or until `enough` of it has."""
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not enough(got):
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


@pytest.mark.parametrize("role", ["watch", "worker"])
def test_daemon_tells_systemd_ready_then_pings_the_watchdog(
        role: str, write_config: Callable[..., Path], sqlite_url: str,
        daemons: Callable[..., Daemon], notify_socket: tuple[socket.socket, str]) -> None:
    """READY=1 once up, then WATCHDOG=1 at least every half WatchdogSec."""
    sock, path = notify_socket
    config = write_config(sqlite_url)
    run_cli("db", "upgrade", config=config, check=True)
    daemons(config, role, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    got = _messages(sock, 6.0, lambda got: "READY=1" in got and got.count("WATCHDOG=1") >= 3)
    assert "READY=1" in got
    assert got.count("WATCHDOG=1") >= 3


def test_sigterm_during_a_transcode_hands_the_job_back_cleanly(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon]) -> None:
    """SIGTERM mid-ffmpeg: exit 0 within the grace period, job queued again, no partial."""
    config_path = write_config(pg_url, jobs='["proxy_h264"]', extra=slow_proxy("veryslow"),
                               extra_worker="shutdown_grace_seconds = 1")
    app, worker = start_slow_transcode(config_path, tmp_path, daemons, size="1920x1080",
                                       seconds=8)
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    [job] = jobs.list_jobs(app.engine)
    assert (job.status, job.attempts) == ("queued", 0)
    assert get_version(app.engine, ASSET, 1).status in ("pending", "processing")
    assert not list(app.store.root.rglob(".partial-*"))
    assert any(e.get("event") == "job.released" for e in worker.events())


def test_log_lines_are_json_with_required_fields_and_no_password(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon]) -> None:
    """Every line parses, carries the fields alerts need, and never shows the DB password."""
    secret_url = pg_url.replace("postgres@", "postgres:s3cretpw@")
    config = write_config(secret_url)
    run_cli("db", "upgrade", config=config, check=True)
    watcher = daemons(config, "watch")
    wait_for(lambda: any(e.get("event") == "watch.started" for e in watcher.events()), 30,
             "the watcher")
    (tmp_path / "drop" / "comp" / f"{ASSET}_v001.mov").write_bytes(b"x")
    (tmp_path / "drop" / "comp" / "bad name.mov").write_bytes(b"y")
    wait_for(lambda: any(e.get("event") == "ingest.rejected" for e in watcher.events())
             and any(e.get("event") == "ingest.accepted" for e in watcher.events()), 30,
             "one accepted and one rejected file")
    status = run_cli("status", config=config)
    watcher.stop()
    raw = watcher.log_path.read_text()
    assert "s3cretpw" not in raw and "s3cretpw" not in status.stdout + status.stderr
    lines = [line for line in raw.splitlines() if line.strip()]
    assert lines
    for line in lines:
        event = json.loads(line)
        assert set(event) >= REQUIRED_FIELDS, line
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", event["event"]), event["event"]
        assert event["timestamp"].endswith("Z")


def test_documented_log_events_are_exactly_the_ones_emitted() -> None:
    """docs/log-events.md lists every event the code can emit, and nothing else."""
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_.]+)` \|",
                                (ROOT / "docs" / "log-events.md").read_text(), re.MULTILINE))
    emitted: set[str] = set()
    for path in (ROOT / "axiomd").rglob("*.py"):
        emitted |= set(re.findall(r"\.(?:debug|info|warning|error|exception)\(\s*\"([a-z_]+\.[a-z_.]+)\"",
                                  path.read_text()))
    assert emitted == documented


def test_status_exit_code_follows_the_database_and_the_broker(
        write_config: Callable[..., Path], pg_url: str, broker_url: str) -> None:
    """`axiomd status` is 0 when all is reachable and 1 as soon as one server is not."""
    import pika

    from axiomd.broker import Topology
    from axiomd.config import load_config

    db_proxy = TcpProxy(5432)
    mq_proxy = TcpProxy(5672)
    config = write_config(pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{db_proxy.port}"),
                          broker_url.replace("127.0.0.1:5672", f"127.0.0.1:{mq_proxy.port}"))
    run_cli("db", "upgrade", config=config, check=True)
    settings = load_config(config)
    consumer = pika.BlockingConnection(pika.URLParameters(broker_url))  # stands in for a worker
    topology = Topology(settings.broker.prefix)
    topology.declare(consumer.channel(), settings.transcode.kinds)
    for kind in settings.transcode.kinds:
        consumer.channel().basic_consume(topology.work_queue(kind), lambda *_: None)
    assert run_cli("status", config=config).returncode == 0
    db_proxy.cut()
    down = run_cli("status", "--json", config=config)
    assert down.returncode == 1
    assert not json.loads(down.stdout)["database"]["reachable"]
    db_proxy.restore()
    assert run_cli("status", config=config).returncode == 0
    mq_proxy.cut()
    down = run_cli("status", "--json", config=config)
    assert down.returncode == 1
    assert not json.loads(down.stdout)["broker"]["reachable"]
    consumer.close()
