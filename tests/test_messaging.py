"""Outbox → RabbitMQ → worker: at least once, idempotent, and nothing lost on faults."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pika
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from axiomd.broker import Topology, connect
from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import job_t, outbox_t, version_t
from axiomd.catalog.versions import JobSpec, allocate_version
from axiomd.config import load_config
from axiomd.errors import BrokerError
from axiomd.relay import OutboxPublisher, publish_outbox
from axiomd.store import Store
from tests.helpers import (
    AMQP_BASE,
    NOOP,
    Daemon,
    add_versions,
    all_done,
    dead_letter_count,
    job_states,
    new_version,
    noop_preset,
    rabbitmqctl,
    wait_for,
)
from tests.tcpproxy import TcpProxy


def test_job_flows_from_outbox_through_rabbitmq_to_done(noop_pipeline: Callable[..., tuple[Path, Engine]],
                                                        daemons: Callable[..., Daemon]) -> None:
    """End to end: allocation writes the outbox, the relay publishes, a worker completes."""
    config, engine = noop_pipeline()
    add_versions(engine, config, 3)
    daemons(config, "relay")
    daemons(config, "worker")
    wait_for(lambda: all_done(engine), 60, "all jobs done")

    def unsent() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox_t)
                                    .where(outbox_t.c.sent_at.is_(None))).scalar_one())

    wait_for(lambda: unsent() == 0, 30, "the version events published too")
    with engine.connect() as conn:
        assert set(conn.execute(select(version_t.c.status)).scalars()) == {"complete"}


def test_relay_marks_sent_only_what_rabbitmq_confirmed(
        noop_pipeline: Callable[..., tuple[Path, Engine]], broker_url: str) -> None:
    """Batches are confirmed as a whole; a row nobody can route stays in the outbox."""
    config_path, engine = noop_pipeline()
    add_versions(engine, config_path, 250)  # more than one batch
    allocate_version(engine, new_version(), [JobSpec("other", "other")], with_outbox=True)
    prefix = load_config(config_path).broker.prefix
    connection = connect(broker_url)
    channel = connection.channel()
    topology = Topology(prefix)
    topology.declare(channel, ["noop"])
    publisher = OutboxPublisher(connection, channel, topology)
    sent = [publish_outbox(engine, publisher) for _ in range(4)]
    assert sum(sent) == 250 + 251  # the jobs, and each version's `version.created` event
    depth = channel.queue_declare(topology.work_queue("noop"), passive=True).method.message_count
    connection.close()
    with engine.connect() as conn:
        unsent = conn.execute(select(outbox_t.c.routing_key).where(outbox_t.c.sent_at.is_(None)))
        assert unsent.scalars().all() == ["job.other"]
    assert depth == 250


def test_relay_gives_up_on_a_batch_rabbitmq_never_confirms(
        noop_pipeline: Callable[..., tuple[Path, Engine]], broker_url: str) -> None:
    """A broker that takes the messages and never answers: the rows stay unsent and the
    relay says why, instead of waiting for ever."""
    config_path, engine = noop_pipeline()
    add_versions(engine, config_path, 5)
    proxy = TcpProxy(5672)
    connection = connect(f"{AMQP_BASE.rsplit(':', 1)[0]}:{proxy.port}/"
                         f"{broker_url.rsplit('/', 1)[1]}")
    channel = connection.channel()
    topology = Topology(load_config(config_path).broker.prefix)
    topology.declare(channel, ["noop"])
    publisher = OutboxPublisher(connection, channel, topology)
    publisher.confirm_timeout = 1.0
    proxy.stall()
    # 5 jobs and their versions' 5 `version.created` events
    with pytest.raises(BrokerError, match="did not confirm 10 messages within 1 s"):
        publish_outbox(engine, publisher)
    proxy.cut()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_t)
                            .where(outbox_t.c.sent_at.is_(None))).scalar() == 10


def _worker_killed_mid_job(config: Path, engine: Engine, daemons: Callable[..., Daemon],
                           hosts: tuple[str | None, str | None] = (None, None)) -> Daemon:
    """One job, its worker killed (-9) while running it, a second worker started (on
    `hosts[1]`) and the job done: that second worker."""
    add_versions(engine, config, 1)
    daemons(config, "relay")
    first = daemons(config, "worker", host=hosts[0])
    wait_for(lambda: job_states(engine) == [("running", 1)], 30, "the job to start")
    first.kill()
    second = daemons(config, "worker", host=hosts[1])
    wait_for(lambda: all_done(engine), 60, "the job to be done by the second worker")
    return second


def test_killed_worker_job_is_redelivered_and_completes_once(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon]) -> None:
    """kill -9 mid-job: the lease runs out, the job runs again and is done exactly once."""
    config, engine = noop_pipeline(sleep=3.0, lease=2)
    second = _worker_killed_mid_job(config, engine, daemons)
    assert job_states(engine) == [("done", 2)]
    done = [e for e in second.events() if e.get("event") == "job.done"]
    assert len(done) == 1


def test_job_longer_than_its_lease_keeps_it_while_the_worker_lives(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon]) -> None:
    """The lease is renewed while the job runs: a second worker never gets the job."""
    config, engine = noop_pipeline(sleep=3.0, lease=1)
    add_versions(engine, config, 1)
    daemons(config, "relay")
    workers = [daemons(config, "worker"), daemons(config, "worker")]
    wait_for(lambda: all_done(engine), 60, "the job to be done")
    assert job_states(engine) == [("done", 1)]
    started = [e for w in workers for e in w.events() if e.get("event") == "job.started"]
    assert len(started) == 1


def test_broker_restart_during_500_jobs_loses_none(noop_pipeline: Callable[..., tuple[Path, Engine]],
                                                   daemons: Callable[..., Daemon]) -> None:
    """RabbitMQ stops and starts mid-stream: every job completes, the outbox drains."""
    config, engine = noop_pipeline()
    add_versions(engine, config, 500)
    daemons(config, "relay")
    daemons(config, "worker")
    daemons(config, "worker")
    wait_for(lambda: sum(s == "done" for s, _ in job_states(engine)) >= 50, 60, "50 jobs done")
    rabbitmqctl("stop_app")
    try:
        time.sleep(2)
    finally:
        rabbitmqctl("start_app")
    wait_for(lambda: all_done(engine), 180, "all 500 jobs done after the broker restart")

    def unsent() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox_t)
                                    .where(outbox_t.c.sent_at.is_(None))).scalar_one())

    wait_for(lambda: unsent() == 0, 30, "the outbox drained (version events follow the jobs)")


def test_poison_message_is_dead_lettered_and_worker_carries_on(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon],
        broker_url: str) -> None:
    """Bad JSON, an unknown schema: dead-letter queue, a log event, and the next job runs."""
    config, engine = noop_pipeline()
    prefix = load_config(config).broker.prefix
    worker = daemons(config, "worker")
    wait_for(lambda: any(e.get("event") == "worker.connected" for e in worker.events()), 30,
             "the worker to connect")
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = conn.channel()
    channel.basic_publish(f"{prefix}.jobs", "job.noop", b"{not json")
    channel.basic_publish(f"{prefix}.jobs", "job.noop", json.dumps({"schema": 99}).encode())
    conn.close()
    add_versions(engine, config, 1)
    daemons(config, "relay")
    wait_for(lambda: all_done(engine), 60, "the good job after the poison ones")
    assert dead_letter_count(broker_url, prefix) == 2
    malformed = [e for e in worker.events() if e.get("event") == "message.malformed"]
    assert len(malformed) == 2


def test_failing_job_is_retried_then_failed_with_its_error(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon],
        broker_url: str) -> None:
    """Retries with backoff up to max_attempts, then the job and version fail, message dead."""
    config, engine = noop_pipeline(fail="render farm exploded", max_attempts=3)
    add_versions(engine, config, 1)
    daemons(config, "relay")
    daemons(config, "worker")
    wait_for(lambda: job_states(engine) == [("failed", 3)], 60, "the job to fail for good")
    with engine.connect() as conn:
        job = conn.execute(select(job_t)).one()
        version = conn.execute(select(version_t)).one()
    assert job.last_error == "render farm exploded"
    assert version.status == "failed" and "render farm exploded" in version.error
    prefix = load_config(config).broker.prefix
    wait_for(lambda: dead_letter_count(broker_url, prefix) == 1, 10, "the dead-lettered message")


def test_long_job_keeps_its_connection_past_heartbeats(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon],
        broker_url: str) -> None:
    """A job lasting several heartbeat intervals completes on the first attempt."""
    config, engine = noop_pipeline(sleep=5.0, broker=f"{broker_url}?heartbeat=1")
    add_versions(engine, config, 1)
    daemons(config, "relay")
    worker = daemons(config, "worker")
    wait_for(lambda: all_done(engine), 60, "the long job to finish")
    assert job_states(engine) == [("done", 1)]
    assert not [e for e in worker.events() if e.get("event") == "service.unavailable"]


def test_job_outliving_consumer_timeout_is_acked_early_and_completes(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon]) -> None:
    """With RabbitMQ's consumer_timeout shortened, the early ack keeps the job on one worker."""
    config, engine = noop_pipeline(sleep=8.0, extra_worker="early_ack_seconds = 1")
    add_versions(engine, config, 1)
    rabbitmqctl("eval", "application:set_env(rabbit, consumer_timeout, 3000).")
    try:
        daemons(config, "relay")
        worker = daemons(config, "worker")
        wait_for(lambda: all_done(engine), 60, "the job to finish")
    finally:
        rabbitmqctl("eval", "application:set_env(rabbit, consumer_timeout, 1800000).")
    assert job_states(engine) == [("done", 1)]
    assert any(e.get("event") == "worker.early_ack" for e in worker.events())
    assert not [e for e in worker.events() if e.get("event") == "service.unavailable"]


def test_embedded_worker_claims_jobs_from_the_catalog(
        write_config: Callable[..., Path], daemons: Callable[..., Daemon], db_url: str) -> None:
    """No broker: the same jobs are claimed straight from the catalog and completed."""
    config = write_config(db_url, extra=noop_preset(), jobs='["noop"]')
    engine = make_engine(db_url)
    schema.upgrade(engine)
    cfg = load_config(config)
    store = Store(cfg.store_root)
    for _ in range(5):
        v = allocate_version(engine, new_version(), NOOP, with_outbox=False)
        store.path(v.store_path).parent.mkdir(parents=True, exist_ok=True)
        store.path(v.store_path).write_text("x")
    daemons(config, "worker")
    wait_for(lambda: all_done(engine), 60, "all embedded jobs done")
    engine.dispose()


def test_a_job_whose_worker_died_on_this_host_is_taken_over_at_once(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon]) -> None:
    """The redelivered message is run as soon as it arrives, not when the lease runs out."""
    config, engine = noop_pipeline(sleep=4.0, lease=300)
    second = _worker_killed_mid_job(config, engine, daemons)
    assert job_states(engine) == [("done", 2)]
    assert any(e.get("event") == "job.taken_over" for e in second.events())


def test_a_job_whose_worker_host_went_silent_is_taken_over_before_its_lease_ends(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon]) -> None:
    """Another host's worker is known dead once its heartbeat has been silent long enough."""
    config, engine = noop_pipeline(sleep=4.0, lease=300, extra_worker="takeover_after_seconds = 10")
    second = _worker_killed_mid_job(config, engine, daemons, hosts=("workera", "workerb"))
    assert job_states(engine) == [("done", 2)]
    assert any(e.get("event") == "job.taken_over" for e in second.events())
