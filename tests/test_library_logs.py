"""Library log records about a condition axiomd reports itself stay out of the error level."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Daemon, run_cli, wait_for

CLOSED_PORT_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def _worker_against_a_closed_port(write_config: Callable[..., Path], pg_url: str,
                                  daemons: Callable[..., Daemon], level: str) -> Daemon:
    config = write_config(pg_url, CLOSED_PORT_BROKER, level=level)
    run_cli("db", "upgrade", config=config, check=True)
    worker = daemons(config, "worker")
    wait_for(lambda: sum(e.get("event") == "worker.broker_unavailable"
                         for e in worker.events()) >= 3, 30, "three failed connection attempts")
    worker.stop()
    return worker


def test_a_refused_broker_connection_logs_no_pika_errors(
        write_config: Callable[..., Path], pg_url: str, daemons: Callable[..., Daemon]) -> None:
    """Three refused connection attempts leave no error line at all: pika's go to debug."""
    worker = _worker_against_a_closed_port(write_config, pg_url, daemons, "info")
    events = worker.events()
    errors = [e for e in events if e.get("level") == "error"]
    assert [e for e in errors if str(e.get("logger", "")).startswith("pika")] == []
    assert errors == []


def test_pika_records_are_kept_at_debug(
        write_config: Callable[..., Path], pg_url: str,
        daemons: Callable[..., Daemon]) -> None:
    """At debug level pika's own records still show, marked with the level pika gave them."""
    worker = _worker_against_a_closed_port(write_config, pg_url, daemons, "debug")
    pika = [e for e in worker.events() if str(e.get("logger", "")).startswith("pika")]
    assert pika and {e["level"] for e in pika} == {"debug"}
    assert "error" in {e["library_level"] for e in pika}
