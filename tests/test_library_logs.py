"""Library log records about a condition axiomd reports itself stay out of the error level."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.helpers import Daemon, run_cli, wait_for

CLOSED_PORT_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def _worker_against_a_closed_port(write_config: Callable[..., Path], pg_url: str,
                                  daemons: Callable[..., Daemon]) -> Daemon:
    """A worker that failed to reach RabbitMQ at least three times (pika said so each time)."""
    config = write_config(pg_url, CLOSED_PORT_BROKER, level="debug")
    run_cli("db", "upgrade", config=config, check=True)
    worker = daemons(config, "worker")
    wait_for(lambda: sum(e.get("library_level") == "error"
                         for e in worker.events()) >= 3, 30, "three failed connection attempts")
    worker.stop()
    return worker


def test_a_refused_broker_connection_logs_no_pika_errors(
        write_config: Callable[..., Path], pg_url: str, daemons: Callable[..., Daemon]) -> None:
    """Three refused connection attempts leave no error line at all: pika's go to debug, and
    axiomd says once, as a warning with its cause, that the broker is away."""
    worker = _worker_against_a_closed_port(write_config, pg_url, daemons)
    events = worker.events()
    assert [e for e in events if e.get("level") == "error"] == []
    [outage] = [e for e in events if e.get("event") == "service.unavailable"]
    assert "127.0.0.1:1" in str(outage["error"]) and outage["level"] == "warning"


def test_pika_records_are_kept_at_debug(
        write_config: Callable[..., Path], pg_url: str,
        daemons: Callable[..., Daemon]) -> None:
    """At debug level pika's own records still show, marked with the level pika gave them."""
    worker = _worker_against_a_closed_port(write_config, pg_url, daemons)
    pika = [e for e in worker.events() if str(e.get("logger", "")).startswith("pika")]
    assert pika and {e["level"] for e in pika} == {"debug"}
    assert "error" in {e["library_level"] for e in pika}
