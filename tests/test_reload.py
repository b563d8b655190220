"""SIGHUP re-reads the config in every process, the children of a supervisor included."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Daemon, run_cli, wait_for


@pytest.mark.parametrize("command", [("worker", "--concurrency", "2"), ("run",)])
def test_sighup_reaches_every_worker_child(command: tuple[str, ...], tmp_path: Path,
                                           write_config: Callable[..., Path],
                                           daemons: Callable[..., Daemon]) -> None:
    config = write_config(f"sqlite:///{tmp_path / 'catalog.db'}",
                          extra_worker="concurrency = 2")
    run_cli("db", "upgrade", config=config, check=True)
    parent = daemons(config, *command)

    def workers_started() -> int:
        return sum(e.get("event") == "worker.started" for e in parent.events())

    wait_for(lambda: workers_started() == 2, 30, "both worker children")
    parent.proc.send_signal(signal.SIGHUP)
    try:
        wait_for(lambda: sum(e.get("event") == "daemon.reload" and e.get("role") == "worker"
                             for e in parent.events()) == 2, 30, "both children to reload")
    except AssertionError as exc:  # once seen in a full run: say what each process did
        told = [{k: e.get(k) for k in ("event", "pid", "role", "child_pid", "error")}
                for e in parent.events() if e.get("event", "").split(".")[0]
                in ("daemon", "supervisor", "worker", "service", "watch")]
        raise AssertionError(f"{exc}; what the processes said: {told}") from None
