"""Passwords in URLs never reach `status`, `status --json`, logs or start-up errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from axiomd.catalog.db import redact
from tests.helpers import Daemon, rabbitmqctl, run_cli, wait_for

SECRET = "Hunter2xyzzy"


@pytest.fixture
def secret_broker_url(broker_url: str) -> Iterator[str]:
    """The test's vhost, reached as a RabbitMQ user of its own whose password is SECRET."""
    user = f"axt-{uuid.uuid4().hex[:8]}"
    vhost = broker_url.rsplit("/", 1)[1]
    rabbitmqctl("add_user", user, SECRET)
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    yield broker_url.replace("guest:guest@", f"{user}:{SECRET}@")
    rabbitmqctl("delete_user", user)


@pytest.mark.parametrize("url", [
    f"postgresql://axiom:{SECRET}@db.example/axiom",
    f"postgresql://axiom@db.example/axiom?password={SECRET}",
    f"postgresql://axiom@db.example/axiom?sslmode=require&sslpassword={SECRET}",
    f"postgresql+psycopg2://axiom:{SECRET}@db.example:5433/axiom?password={SECRET}",
    f"postgresql://axiom:p@ss/{SECRET}@db.example/axiom",
    f"amqp://user:{SECRET}@mq.example:5672/vhost",
    f"amqps://user:{SECRET}@mq.example/%2F?heartbeat=30",
])
def test_redact_removes_the_password_from_every_url_form(url: str) -> None:
    """user:pass@, a password= or sslpassword= query parameter, an unencoded @ in the password."""
    shown = redact(url)
    assert SECRET not in shown and "p@ss" not in shown
    assert "***" in shown


def test_status_and_status_json_hide_passwords_in_query_parameters(
        write_config: Callable[..., Path], pg_url: str, secret_broker_url: str) -> None:
    """`status` reaches the real servers but prints neither password."""
    config = write_config(f"{pg_url}?password={SECRET}", secret_broker_url)
    run_cli("db", "upgrade", config=config, check=True)
    for args in (["status"], ["status", "--json"]):
        result = run_cli(*args, config=config)
        assert SECRET not in result.stdout + result.stderr
        assert "***" in result.stdout and "UNREACHABLE" not in result.stdout


def test_unresolvable_catalog_host_at_start_is_one_redacted_line(
        write_config: Callable[..., Path]) -> None:
    """A DNS failure: one line naming the catalog, no traceback, no part of the password."""
    config = write_config(f"postgresql://axiom:p@ss{SECRET}@nonexistent.invalid/axiom"
                          f"?password={SECRET}")
    result = run_cli("watch", config=config)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert SECRET not in output and "p@ss" not in output
    assert len(output.strip().splitlines()) == 1, output


def test_daemon_logs_hide_the_broker_password(
        write_config: Callable[..., Path], pg_url: str, secret_broker_url: str,
        daemons: Callable[..., Daemon]) -> None:
    """The worker's connection event names the broker without its password."""
    config = write_config(f"{pg_url}?password={SECRET}", secret_broker_url)
    run_cli("db", "upgrade", config=config, check=True)
    worker = daemons(config, "worker")
    wait_for(lambda: any(e.get("event") == "worker.connected" for e in worker.events()), 30,
             "the worker to connect")
    worker.stop()  # everything it logged, from start to shutdown
    assert SECRET not in worker.log_path.read_text()
