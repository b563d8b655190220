"""What every long-running axiomd process shares: signals, systemd notify, heartbeats.

Signal handlers only set flags; the main loops read them. First SIGTERM/SIGINT: stop
taking new work and give the current job `grace` seconds; when the grace runs out, or on
a second signal, the current job is told to abort (and is handed back, never half-done).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from typing import Any

from sqlalchemy.engine import Engine

from axiomd.catalog import heartbeats
from axiomd.config import Config, load_config
from axiomd.errors import ConfigError
from axiomd.log import get_logger

log = get_logger("daemon")


class Shutdown:
    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.stop_taking = threading.Event()
        self.abort_work = threading.Event()
        self.reload = threading.Event()

    def request(self, reason: str = "signal") -> None:
        if self.stop_taking.is_set():
            self.abort_work.set()
            return
        self.stop_taking.set()
        timer = threading.Timer(self.grace_seconds, self.abort_work.set)
        timer.daemon = True
        timer.start()

    def install(self) -> None:
        def on_stop(signum: int, _frame: Any) -> None:
            self.request(signal.Signals(signum).name)

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self.reload.set())


def sd_notify(message: str) -> bool:
    """Tell systemd about our state (READY=1, WATCHDOG=1, STOPPING=1); no-op outside it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("daemon.notify_failed", error=str(exc))
        return False
    return True


class Pulse:
    """Periodic signs of life: systemd's watchdog and the catalog's heartbeat table.

    It beats from its own thread, so hashing a 50 GB file or a long transcode does not
    look like a hang to systemd; hung ffmpeg runs have their own watchdog.
    """

    def __init__(self, engine: Engine, role: str, every: float = 5.0) -> None:
        self.engine = engine
        self.role = role
        self.process = f"{role}@{socket.gethostname()}.{os.getpid()}"
        usec = os.environ.get("WATCHDOG_USEC")
        watchdog = int(usec) / 1e6 / 2 if usec and usec.isdigit() else None
        self.every = min(every, watchdog) if watchdog else every
        self._last = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Pulse:
        def loop() -> None:
            while not self._stop.is_set():
                self.beat(force=True)
                self._stop.wait(self.every)

        self._thread = threading.Thread(target=loop, name=f"pulse-{self.role}", daemon=True)
        self._thread.start()
        return self

    def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        sd_notify("WATCHDOG=1")
        try:
            heartbeats.beat(self.engine, self.process, self.role, socket.gethostname())
        except Exception as exc:  # the catalog being down must not stop the daemon
            log.warning("daemon.heartbeat_failed", role=self.role, error=str(exc))

    def forget(self) -> None:
        """Stop beating and remove our heartbeat row: a clean stop is not a dead process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        sd_notify("STOPPING=1")
        with contextlib.suppress(Exception):
            heartbeats.forget(self.engine, self.process)


def reload_config(current: Config, role: str) -> Config | None:
    """SIGHUP: read the config again; keep the old one if the new one is wrong."""
    try:
        new = load_config(current.path)
    except ConfigError as exc:
        log.error("daemon.reload_failed", role=role, error=str(exc))
        return None
    log.info("daemon.reload", role=role)
    return new
