"""What every long-running axiomd process shares: signals, systemd notify, heartbeats,
and the one loop that runs each daemon (`Service`, `run_service`).

Signal handlers only set flags; the loop reads them. First SIGTERM/SIGINT: stop taking
new work and give the current job `grace` seconds; when the grace runs out, or on a
second signal, the current job is told to abort (and is handed back, never half-done).
SIGHUP re-reads the config between two turns of the loop, the same way in every daemon.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import signal
import socket
import threading
import time
from typing import Any, ClassVar

from sqlalchemy.engine import Engine

from axiomd import liveness
from axiomd.catalog import heartbeats
from axiomd.config import Config, load_config
from axiomd.errors import ConfigError
from axiomd.identity import heartbeat_name, host
from axiomd.log import get_logger

log = get_logger("daemon")


class Shutdown:
    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.stop_taking = threading.Event()
        self.abort_work = threading.Event()
        self.reload = threading.Event()
        self.reloads = 0  # SIGHUPs so far: a supervisor passes each on to its children

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
            signal.signal(signal.SIGHUP, lambda *_: self.hang_up())

    def hang_up(self) -> None:
        self.reloads += 1
        self.reload.set()


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

    It beats from its own thread, but only vouches for a loop that is moving: with
    `gate`, the watchdog ping and the heartbeat stop once the loop has not turned (nor
    long work progressed, see `liveness.py`) for `stall_after` seconds, so systemd
    restarts a daemon stuck on a silent connection. The heartbeat is written on a thread
    of its own, so a catalog that hangs cannot stop the watchdog pings for a loop that
    turns.
    """

    def __init__(self, engine: Engine, role: str, every: float = 5.0, *,
                 gate: bool = True, stall_after: float | None = None) -> None:
        self.engine = engine
        self.role = role
        self.process = heartbeat_name(role)
        usec = os.environ.get("WATCHDOG_USEC")
        watchdog = int(usec) / 1e6 if usec and usec.isdigit() else None
        self.every = min(every, watchdog / 2) if watchdog else every
        self.gate = gate
        self.stall_after = stall_after or watchdog or 60.0
        self._last = 0.0
        self._turned = time.monotonic()
        self._stalled = False
        self._writing = threading.Lock()
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

    def turned(self) -> None:
        """The daemon's loop finished a step."""
        self._turned = time.monotonic()

    def moving(self) -> bool:
        if not self.gate:
            return True
        since = liveness.quiet_since(self._turned)
        stalled = since is not None and time.monotonic() - since > self.stall_after
        if stalled != self._stalled:
            self._stalled = stalled
            if stalled:
                log.error("daemon.loop_stalled", role=self.role,
                          quiet_seconds=round(time.monotonic() - (since or 0.0), 1),
                          action="watchdog pings and heartbeat withheld")
            else:
                log.info("daemon.loop_resumed", role=self.role)
        return not stalled

    def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        if not self.moving():
            return
        sd_notify("WATCHDOG=1")
        if self._writing.acquire(blocking=False):  # the last write may still hang
            threading.Thread(target=self._write_heartbeat, daemon=True,
                             name=f"heartbeat-{self.role}").start()

    def _write_heartbeat(self) -> None:
        try:
            heartbeats.beat(self.engine, self.process, self.role, host())
        except Exception as exc:  # the catalog being down must not stop the daemon
            log.warning("daemon.heartbeat_failed", role=self.role, error=str(exc))
        finally:
            self._writing.release()

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


def describe(exc: BaseException) -> str:
    """An error as one line for a log event; some library errors have an empty message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Backoff:
    """Waits that grow after each failure, with full jitter so restarted daemons spread out."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first, self.cap = first, cap
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return random.uniform(self.first / 2, min(self.cap, self.first * 2 ** self.failures))

    def reset(self) -> None:
        self.failures = 0


class Service:
    """One daemon's work, in the pieces `run_service` calls.

    `start` connects (again, after an outage), `step` does one short turn of work,
    `disconnect` drops what `start` made when an error in `outages` says a server went
    away, `reload` takes a re-read config, `close` finishes for good.
    """

    role: ClassVar[str]
    outages: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, config: Config, engine: Engine, shutdown: Shutdown) -> None:
        self.config = config
        self.engine = engine
        self.shutdown = shutdown

    def start(self) -> None:
        """Connect and get ready to take work."""

    def step(self) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        """Drop connections after an outage; `start` makes new ones."""

    def reload(self, config: Config) -> None:
        self.config = config

    def close(self) -> None:
        """The loop has ended: finish or hand back current work, release everything."""


def keep_out_of_collections() -> None:
    """What a daemon made to start (modules, the catalog's tables, compiled statements)
    lives as long as it does, yet every full garbage collection walked all of it: in a
    10,000-file burst a watcher paused three times for 60-120 ms, freeing nothing (the
    spikes of settle→commit latency). Frozen, collections walk only what work made."""
    gc.freeze()


def run_service(service: Service, *, notify_ready: bool = True,
                backoff: Backoff | None = None) -> None:
    """Run `service` until shutdown: heartbeat, READY once started, reload on SIGHUP,
    back off (with jitter) through outages, and log one event as each begins and ends."""
    role, shutdown = service.role, service.shutdown
    pulse = Pulse(service.engine, role, gate=notify_ready).start()
    backoff = backoff or Backoff()
    started = ready = False
    down_since: float | None = None
    try:
        while not shutdown.stop_taking.is_set():
            if shutdown.reload.is_set():
                shutdown.reload.clear()
                new = reload_config(service.config, role)
                if new is not None:
                    service.reload(new)
            try:
                if not started:
                    service.start()
                    started = True
                    if not ready:
                        keep_out_of_collections()
                        if notify_ready:
                            sd_notify("READY=1")
                        ready = True
                service.step()
                pulse.turned()
                if down_since is not None:
                    log.info("service.recovered", role=role,
                             down_seconds=round(time.monotonic() - down_since, 1))
                    down_since = None
                    backoff.reset()
            except service.outages as exc:
                started = False
                with contextlib.suppress(Exception), liveness.busy():
                    service.disconnect()  # may wait for a running job to end
                delay = backoff.next()
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("service.unavailable", role=role, error=describe(exc),
                                retry_in=round(delay, 2))
                with liveness.busy():  # waiting out an outage is the loop working
                    shutdown.stop_taking.wait(delay)
    finally:
        try:
            service.close()
        finally:
            pulse.forget()
