"""Child worker processes for `axiomd run` and `axiomd worker --concurrency N`.

One job per process: a crash in one (ffmpeg, a bad file, the OOM killer) takes one job
down, and the lease or the broker hands that job to another. Dead children are started
again after a short pause; on shutdown each child gets SIGTERM and its own grace period.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from axiomd.daemon import Shutdown
from axiomd.log import get_logger

log = get_logger("supervisor")

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def dies_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that has the kernel SIGKILL the child when its parent dies.

    Outside systemd (whose KillMode cleans up) a kill -9'd worker would otherwise leave
    its ffmpeg encoding for nobody. The kernel watches the thread that started the
    child, so start children from threads that live as long as the work does.
    """
    parent = os.getpid()

    def arm() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return arm


class Children:
    def __init__(self, commands: Sequence[Sequence[str]], shutdown: Shutdown) -> None:
        self.commands = [list(c) for c in commands]
        self.shutdown = shutdown
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * len(self.commands)
        self.restart_at = [0.0] * len(self.commands)
        self.reloads_passed = shutdown.reloads

    def start(self) -> None:
        for i in range(len(self.commands)):
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        # Own session: terminal Ctrl-C and systemd's SIGTERM reach the parent only, which
        # forwards one SIGTERM, so a child never mistakes it for a second, urgent one.
        self.procs[i] = subprocess.Popen(self.commands[i], stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=dies_with_parent())
        log.info("supervisor.started", child=i, child_pid=self.procs[i].pid,
                 command=" ".join(self.commands[i][2:]))

    def check(self) -> None:
        """Start again any child that died while we are not shutting down, and pass a
        SIGHUP on: each child re-reads the config between two jobs."""
        if self.shutdown.reloads != self.reloads_passed:
            self.reloads_passed = self.shutdown.reloads
            for proc in self.procs:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGHUP)
            log.info("supervisor.reload", children=len(self.procs))
        now = time.monotonic()
        for i, proc in enumerate(self.procs):
            if proc is None or proc.poll() is None or self.shutdown.stop_taking.is_set():
                continue
            if self.restart_at[i] == 0.0:
                log.error("supervisor.child_died", child=i, child_pid=proc.pid,
                          exit_code=proc.returncode)
                self.restart_at[i] = now + 1.0
            elif now >= self.restart_at[i]:
                self.restart_at[i] = 0.0
                self._spawn(i)

    def stop(self, grace: float) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace + 5.0
        for proc in self.procs:
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def urgent(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)


def axiomd_command(config_path: Path | None, *args: str) -> list[str]:
    cmd = [sys.executable, "-m", "axiomd"]
    if config_path is not None:
        cmd += ["--config", str(config_path)]
    return [*cmd, *args]
