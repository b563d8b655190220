"""PostgreSQL connections that go silent: a proxy that accepts and then carries nothing.

The watcher is a real process talking to the real PostgreSQL through `TcpProxy`; the
systemd watchdog is a real datagram socket the test listens on (`NOTIFY_SOCKET`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from tests.faults.test_hostile_integrity import started, versions
from tests.helpers import Daemon, run_cli, wait_for
from tests.tcpproxy import TcpProxy


def test_catalog_connections_carry_keepalives_and_timeouts(pg_url: str) -> None:
    """TCP keepalives, a connect timeout and statement/lock timeouts on every connection."""
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            params = conn.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
            assert params["keepalives"] == "1" and int(params["keepalives_idle"]) > 0
            assert int(params["connect_timeout"]) > 0 and int(params["tcp_user_timeout"]) > 0
            assert conn.execute(text("SHOW statement_timeout")).scalar() != "0"
            assert conn.execute(text("SHOW lock_timeout")).scalar() != "0"
    finally:
        engine.dispose()


def test_timeouts_given_in_the_url_win(pg_url: str) -> None:
    """An operator's `?connect_timeout=3&options=...` is kept as written."""
    engine = make_engine(f"{pg_url}?connect_timeout=3&options=-c%20statement_timeout%3D7s")
    try:
        with engine.connect() as conn:
            params = conn.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
            assert params["connect_timeout"] == "3"
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
    finally:
        engine.dispose()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy(5432)
    yield p
    p.cut()


def test_catalog_that_accepts_and_never_answers_fails_the_start_in_seconds(
        write_config: Callable[..., Path], pg_url: str, proxy: TcpProxy) -> None:
    """Without a connect timeout the start would hang for good; it is one line instead."""
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    engine.dispose()
    config = write_config(pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
    proxy.stall()
    begun = time.monotonic()
    result = run_cli("watch", config=config)
    assert result.returncode == 1
    assert time.monotonic() - begun < 40
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr


class Watchdog:
    """The systemd side of `sd_notify`: a datagram socket recording each WATCHDOG=1."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.pings: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"WATCHDOG=1" in data:
                self.pings.append(time.monotonic())

    def pinged_since(self, since: float) -> bool:
        return any(t > since for t in self.pings)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def watchdog(tmp_path: Path) -> Iterator[Watchdog]:
    w = Watchdog(tmp_path / "notify.sock")
    yield w
    w.close()


def test_watcher_stuck_on_a_silent_catalog_stops_pinging_the_watchdog_and_recovers(
        write_config: Callable[..., Path], pg_url: str, proxy: TcpProxy,
        watchdog: Watchdog, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    """A connection that stops carrying bytes hangs an ingest: the watchdog pings stop (so
    systemd would restart it) instead of a side thread vouching for a dead loop; when the
    connection breaks, the file goes in and the pings come back."""
    engine: Engine = make_engine(pg_url)
    schema.upgrade(engine)
    config = write_config(pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
    drop = tmp_path / "drop" / "comp"
    watcher = started(daemons(config, "watch", env={
        "NOTIFY_SOCKET": str(watchdog.path), "WATCHDOG_USEC": "3000000"}))
    (drop / "TST_SQ010_SH0010_comp_v001.mov").write_bytes(os.urandom(1024))
    wait_for(lambda: len(versions(engine)) == 1, 30, "the first version")
    wait_for(lambda: watchdog.pinged_since(time.monotonic() - 1), 10, "watchdog pings")
    proxy.stall()
    (drop / "TST_SQ010_SH0020_comp_v001.mov").write_bytes(os.urandom(1024))
    wait_for(lambda: any(e.get("event") == "daemon.loop_stalled" for e in watcher.events()),
             30, "the stalled loop to be noticed")
    quiet_from = time.monotonic()
    time.sleep(3)  # two ping intervals (WATCHDOG_USEC / 2) with none
    assert not watchdog.pinged_since(quiet_from + 0.5)
    proxy.cut()
    proxy.restore()
    wait_for(lambda: len(versions(engine)) == 2, 60, "the second version after the stall")
    back = time.monotonic()
    wait_for(lambda: watchdog.pinged_since(back), 10, "watchdog pings again")
    assert watcher.proc.poll() is None
    engine.dispose()
