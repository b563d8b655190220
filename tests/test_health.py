"""`axiomd status` is unhealthy, naming the reason, in each situation an operator must act on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pika
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd import health
from axiomd.broker import Topology
from axiomd.catalog import heartbeats, jobs, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import heartbeat_t, utcnow
from axiomd.config import Config, StatusSettings, load_config
from tests.helpers import Daemon, rabbitmqctl, run_cli, wait_for

ASSET = "TST_SQ010_SH0010_comp"


@pytest.fixture
def setup(write_config: Callable[..., Path], pg_url: str
          ) -> Iterator[Callable[..., tuple[Config, Engine]]]:
    """A PostgreSQL catalog at head and its config; `extra` adds config text."""
    engines: list[Engine] = []

    def make(broker_url: str = "", extra: str = "") -> tuple[Config, Engine]:
        config = load_config(write_config(pg_url, broker_url, extra=extra))
        engine = make_engine(config.database_url)
        schema.upgrade(engine)
        engines.append(engine)
        return config, engine

    yield make
    for engine in engines:
        engine.dispose()


def _queue_a_job(config: Config) -> None:
    drop = config.path.parent / f"{ASSET}_v001.txt"  # type: ignore[union-attr]
    drop.write_text("plate notes")
    run_cli("ingest", str(drop), "--root", "comp", config=config.path, check=True)


def _problems_about(report: health.Health, words: str) -> list[str]:
    return [p for p in report.problems if words in p]


def test_an_idle_embedded_pipeline_is_healthy(setup: Callable[..., tuple[Config, Engine]]) -> None:
    """Nothing queued, nothing failed, no daemon silent: healthy."""
    config, engine = setup()
    report = health.check(config, engine)
    assert report.healthy, report.problems


def test_queued_jobs_without_a_live_worker_are_unhealthy(
        setup: Callable[..., tuple[Config, Engine]]) -> None:
    """A job waits and no worker heartbeat is live: unhealthy until a worker beats."""
    config, engine = setup()
    _queue_a_job(config)
    assert _problems_about(health.check(config, engine), "queued and no worker alive")
    heartbeats.beat(engine, "worker@farm01.4242", "worker", "farm01")
    assert health.check(config, engine).healthy


def test_a_stale_heartbeat_is_unhealthy_and_names_the_process(
        setup: Callable[..., tuple[Config, Engine]]) -> None:
    """A daemon silent for longer than stale_heartbeat_seconds is named, with its host."""
    config, engine = setup(extra="[status]\nstale_heartbeat_seconds = 30\n")
    heartbeats.beat(engine, "relay@mq02.77", "relay", "mq02", now=utcnow() - timedelta(seconds=45))
    [problem] = health.check(config, engine).problems
    assert "relay@mq02.77" in problem and "axiomd hosts forget mq02" in problem


def test_an_expired_heartbeat_is_ignored_and_pruned(
        setup: Callable[..., tuple[Config, Engine]]) -> None:
    """A heartbeat older than heartbeat_expire_seconds no longer counts and is deleted."""
    config, engine = setup(extra="[status]\nheartbeat_expire_seconds = 3600\n")
    heartbeats.beat(engine, "watcher@old01.9", "watcher", "old01",
                    now=utcnow() - timedelta(hours=2))
    report = health.check(config, engine)
    assert report.healthy and report.processes == []
    with engine.connect() as conn:
        assert conn.execute(select(heartbeat_t)).all() == []


def test_failures_in_the_last_hour_past_the_limit_are_unhealthy(
        setup: Callable[..., tuple[Config, Engine]]) -> None:
    """More failed jobs in the last hour than max_failures_last_hour: unhealthy."""
    config, engine = setup(extra="[status]\nmax_failures_last_hour = 0\n")
    _queue_a_job(config)
    job = jobs.claim_next(engine, "worker@t.1", 30)
    assert job is not None
    jobs.fail(engine, job.id, "worker@t.1", "ffprobe: invalid data", max_attempts=1,
              retry_delays=[1], retryable=False, with_outbox=False)
    report = health.check(config, engine)
    assert report.failed_last_hour == 1
    assert _problems_about(report, "1 job(s) failed in the last hour")


def test_failures_within_the_limit_are_tolerated(
        setup: Callable[..., tuple[Config, Engine]]) -> None:
    """max_failures_last_hour = 1 lets one failure pass."""
    config, engine = setup(extra="[status]\nmax_failures_last_hour = 1\n")
    _queue_a_job(config)
    job = jobs.claim_next(engine, "worker@t.1", 30)
    assert job is not None
    jobs.fail(engine, job.id, "worker@t.1", "bad", max_attempts=1, retry_delays=[1],
              retryable=False, with_outbox=False)
    assert health.check(config, engine).healthy


def test_an_old_outbox_backlog_is_unhealthy(
        setup: Callable[..., tuple[Config, Engine]], broker_url: str) -> None:
    """Outbox rows left unsent past outbox_max_age_seconds mean the relay is not working."""
    config, engine = setup(broker_url, extra="[status]\noutbox_max_age_seconds = 0.5\n")
    _queue_a_job(config)
    wait_for(lambda: _problems_about(health.check(config, engine), "unsent message(s)"), 10,
             "the unsent row to be older than outbox_max_age_seconds")


@pytest.mark.parametrize("report", ["missing", "polled"])
def test_a_watcher_reporting_a_missing_or_polled_root_is_unhealthy(
        report: str, setup: Callable[..., tuple[Config, Engine]]) -> None:
    """The watcher's heartbeat detail names a drop root missing or polled: status says so."""
    config, engine = setup()
    process = "watcher@ingest01.12"
    heartbeats.beat(engine, process, "watcher", "ingest01")
    heartbeats.report_roots(engine, process, missing=["comp"] if report == "missing" else [],
                            polled=["comp"] if report == "polled" else [])
    [problem] = health.check(config, engine).problems
    assert "drop root comp" in problem and process in problem
    assert ("mounted" if report == "missing" else "max_user_watches") in problem
    heartbeats.report_roots(engine, process, missing=[], polled=[])
    assert health.check(config, engine).healthy


def test_missing_work_queues_are_unhealthy(
        setup: Callable[..., tuple[Config, Engine]], broker_url: str) -> None:
    """Before any worker or relay declared them, every work queue is named missing."""
    config, engine = setup(broker_url)
    report = health.check(config, engine)
    topology = Topology(config.broker.prefix)
    for kind in config.transcode.kinds:
        assert _problems_about(report, f"queue {topology.work_queue(kind)} is missing")
    assert report.broker["reachable"] is True


def test_work_queues_without_consumers_are_unhealthy_until_one_consumes(
        setup: Callable[..., tuple[Config, Engine]], broker_url: str) -> None:
    """Declared queues nobody consumes are named; a consumer on each clears it."""
    config, engine = setup(broker_url)
    topology = Topology(config.broker.prefix)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        topology.declare(channel, config.transcode.kinds)
        report = health.check(config, engine)
        assert len(_problems_about(report, "has no consumer")) == len(config.transcode.kinds)
        for kind in config.transcode.kinds:
            channel.basic_consume(topology.work_queue(kind), lambda *_: None)
        report = health.check(config, engine)
        assert report.healthy, report.problems
        queue = report.broker["queues"][topology.work_queue("probe")]
        assert (queue["consumers"], queue["messages"]) == (1, 0)
    finally:
        connection.close()


def test_the_broker_probe_closes_its_connection(
        setup: Callable[..., tuple[Config, Engine]], broker_url: str) -> None:
    """After status, no connection of ours is left open on the broker."""
    config, engine = setup(broker_url)
    for _ in range(3):
        health.check(config, engine)
    wait_for(lambda: not _open_connections(broker_url), 10, "the probe's connections to close")


def _open_connections(broker_url: str) -> list[str]:
    vhost = broker_url.rsplit("/", 1)[1]
    return [line for line in rabbitmqctl("list_connections", "vhost").splitlines()
            if line.strip() == vhost]


def test_an_error_after_connecting_makes_the_broker_unreachable(
        setup: Callable[..., tuple[Config, Engine]], broker_url: str) -> None:
    """A queue the broker refuses to describe (locked) is an error, never `reachable: true`;
    the connection is closed all the same."""
    config, engine = setup(broker_url)
    topology = Topology(config.broker.prefix)
    holder = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        holder.channel().queue_declare(topology.work_queue(config.transcode.kinds[0]),
                                       exclusive=True)
        report = health.check(config, engine)
    finally:
        holder.close()
    assert report.broker["reachable"] is False
    assert "RESOURCE_LOCKED" in report.broker["error"] or "405" in report.broker["error"]
    assert _problems_about(report, "broker unreachable")
    wait_for(lambda: not _open_connections(broker_url), 10, "the probe's connection to close")


def test_status_turns_unhealthy_when_the_only_worker_stops_with_jobs_queued(
        write_config: Callable[..., Path], pg_url: str, daemons: Callable[..., Daemon]) -> None:
    """A real worker beats: healthy; it stops, a job is queued: exit 1 naming the cause."""
    config = write_config(pg_url)
    run_cli("db", "upgrade", config=config, check=True)
    worker = daemons(config, "worker")
    engine = make_engine(load_config(config).database_url)
    try:
        wait_for(lambda: heartbeats.recent(engine, utcnow() - timedelta(minutes=1)), 30,
                 "the worker's heartbeat")
    finally:
        engine.dispose()
    assert run_cli("status", config=config).returncode == 0
    assert worker.stop() == 0
    _queue_a_job(load_config(config))
    result = run_cli("status", "--json", config=config)
    assert result.returncode == 1
    assert any("queued and no worker alive" in p for p in json.loads(result.stdout)["problems"])


def test_the_dead_letter_queue_needs_no_consumer() -> None:
    """Dead letters are kept for inspection: an unconsumed dead queue is not a problem."""
    facts = health.Health(database={"reachable": True}, broker={
        "reachable": True, "queues": {"axiom.probe": {"kind": "probe", "messages": 0, "consumers": 1},
                                      "axiom.dead": {"kind": "dead", "messages": 7, "consumers": 0}}})
    assert health.judge(facts, StatusSettings()) == []


def test_a_stale_watchers_old_root_report_is_not_repeated() -> None:
    """A silent watcher is named once as silent; its last root report no longer counts."""
    facts = health.Health(database={"reachable": True}, broker={"mode": "embedded"}, processes=[
        {"process": "watcher@a.1", "role": "watcher", "host": "a", "age_seconds": 90.0,
         "stale": True, "detail": {"roots_missing": ["comp"], "roots_polled": []}}])
    [problem] = health.judge(facts, StatusSettings())
    assert "silent for 90 s" in problem
