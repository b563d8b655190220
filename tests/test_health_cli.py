"""`axiomd hosts` and `axiomd status --format prometheus`, through the real command line."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pika
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from axiomd.broker import Topology
from axiomd.catalog import heartbeats, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import utcnow
from axiomd.config import load_config
from tests.helpers import run_cli

ASSET = "TST_SQ010_SH0010_comp"


def _setup(write_config: Callable[..., Path], db: str, broker: str = "") -> tuple[Path, Engine]:
    config = write_config(db, broker, extra="[status]\nstale_heartbeat_seconds = 30\n")
    engine = make_engine(load_config(config).database_url)
    schema.upgrade(engine)  # in-process: the commands under test are what run as processes
    return config, engine


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_hosts_lists_each_host_with_roles_last_seen_and_staleness(
        write_config: Callable[..., Path], pg_url: str) -> None:
    """One row per host: its roles, when it was last seen (UTC), whether it went quiet."""
    config, engine = _setup(write_config, pg_url)
    heartbeats.beat(engine, "watcher@ingest01.10", "watcher", "ingest01")
    heartbeats.beat(engine, "worker@ingest01.11", "worker", "ingest01")
    heartbeats.beat(engine, "worker@farm07.5", "worker", "farm07",
                    now=utcnow() - timedelta(minutes=5))
    rows = json.loads(run_cli("hosts", "--json", config=config, check=True).stdout)
    assert [(r["host"], r["roles"], r["stale"]) for r in rows] == [
        ("farm07", ["worker"], True), ("ingest01", ["watcher", "worker"], False)]
    assert all(r["last_seen"].endswith("Z") for r in rows)
    table = run_cli("hosts", config=config, check=True).stdout
    assert "farm07" in table and "STALE" in table and "UTC" in table


def test_forgetting_a_retired_host_makes_status_healthy_again(
        write_config: Callable[..., Path], pg_url: str) -> None:
    """A retired host's stale heartbeat keeps status red until `hosts forget` removes it."""
    config, engine = _setup(write_config, pg_url)
    heartbeats.beat(engine, "worker@farm07.5", "worker", "farm07",
                    now=utcnow() - timedelta(minutes=5))
    assert run_cli("status", config=config).returncode == 1
    forgot = run_cli("hosts", "forget", "farm07", config=config)
    assert forgot.returncode == 0 and "farm07" in forgot.stdout
    assert run_cli("status", config=config).returncode == 0


def test_forgetting_an_unknown_host_fails_and_says_so(
        write_config: Callable[..., Path], pg_url: str) -> None:
    """A typo in the host name changes nothing and exits 1 with a hint."""
    config, _ = _setup(write_config, pg_url)
    result = run_cli("hosts", "forget", "farm7", config=config)
    assert result.returncode == 1 and "axiomd hosts" in result.stderr


def test_prometheus_output_carries_the_same_facts_as_status(
        write_config: Callable[..., Path], pg_url: str, broker_url: str, tmp_path: Path) -> None:
    """Versions and jobs by state, queues, outbox, heartbeat ages, failures and health parse back."""
    config, engine = _setup(write_config, pg_url, broker_url)
    settings = load_config(config)
    drop = tmp_path / f"{ASSET}_v001.txt"
    drop.write_text("notes")
    run_cli("ingest", str(drop), "--root", "comp", config=config, check=True)
    heartbeats.beat(engine, "relay@mq01.3", "relay", "mq01")
    topology = Topology(settings.broker.prefix)
    consumer = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        topology.declare(consumer.channel(), settings.transcode.kinds)
        consumer.channel().basic_consume(topology.work_queue("probe"), lambda *_: None)
        result = run_cli("status", "--format", "prometheus", config=config)
    finally:
        consumer.close()
    assert result.returncode == 0
    got = _samples(result.stdout)
    probe = (("kind", "probe"), ("queue", topology.work_queue("probe")))
    proxy = (("kind", "proxy"), ("queue", topology.work_queue("proxy")))
    assert got[("axiomd_jobs", (("state", "queued"),))] == 1
    assert got[("axiomd_versions", (("state", "pending"),))] == 1
    assert got[("axiomd_queue_consumers", probe)] == 1
    assert got[("axiomd_queue_consumers", proxy)] == 0
    assert got[("axiomd_queue_messages", probe)] == 0
    assert got[("axiomd_outbox_backlog", ())] == 2  # the job and its version.created event
    assert got[("axiomd_outbox_oldest_age_seconds", ())] >= 0
    assert got[("axiomd_jobs_failed_last_hour", ())] == 0
    assert got[("axiomd_heartbeat_age_seconds",
                (("host", "mq01"), ("process", "relay@mq01.3"), ("role", "relay")))] < 30
    assert got[("axiomd_broker_up", ())] == 1 and got[("axiomd_catalog_up", ())] == 1
    assert got[("axiomd_healthy", ())] == 0  # queued job, no worker, proxy queue unconsumed


def test_prometheus_output_file_is_replaced_whole_and_readable_by_others(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path) -> None:
    """--output writes beside the file and renames: no temporary left, mode 0644."""
    config, _ = _setup(write_config, pg_url)
    target = tmp_path / "textfile" / "axiomd.prom"
    target.parent.mkdir()
    target.write_text("old\n")
    run_cli("status", "--format", "prometheus", "--output", str(target), config=config, check=True)
    assert _samples(target.read_text())[("axiomd_healthy", ())] == 1
    assert [p.name for p in target.parent.iterdir()] == ["axiomd.prom"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
