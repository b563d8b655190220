"""Worker processes: one job at a time, from the catalog (embedded) or from RabbitMQ.

The RabbitMQ worker keeps pika's connection on the main thread (so heartbeats are always
answered) and runs the job on a second thread, handing acks back with
`add_callback_threadsafe`. A message is acked only after the job's result is committed.

RabbitMQ closes a channel whose delivery stays unacked past its `consumer_timeout`
(30 minutes by default, broker-wide on 3.10). So a job still running after
`worker.early_ack_seconds` stops this worker's consumers and acks its message early;
from then on the job's lease in the catalog protects it, and if this worker dies the
relay re-publishes the job once the lease has expired.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties
from sqlalchemy.exc import DataError, DBAPIError

from axiomd import liveness
from axiomd.broker import CONNECTION_ERRORS, Topology, connect
from axiomd.catalog import heartbeats, jobs
from axiomd.catalog.changes import CommitWatch, commit_watch
from axiomd.catalog.db import DRIVER_ERRORS, redact
from axiomd.catalog.jobs import ClaimedJob
from axiomd.catalog.models import utcnow
from axiomd.config import Config
from axiomd.consumers.runner import JobRunner, RunOutcome
from axiomd.daemon import Service, Shutdown, describe
from axiomd.errors import BrokerError, CatalogUnavailable, MalformedMessage
from axiomd.identity import (
    heartbeat_name,
    host,
    left_by_dead_process,
    owner_of,
    process_name,
)
from axiomd.lifecycle import JobState
from axiomd.log import get_logger
from axiomd.messages import decode
from axiomd.store import Store

log = get_logger("worker")


class _Worker(Service):
    """What both kinds of worker hold: one owner id, and a runner stopped by the shutdown.

    A re-read config (SIGHUP) applies from the next job on: presets, timeouts, retries.
    """

    role = "worker"

    def __init__(self, config: Config, engine: Any, store: Store, shutdown: Shutdown) -> None:
        super().__init__(config, engine, shutdown)
        self.owner = process_name()  # as in its heartbeat, worker@<owner>
        self.runner = JobRunner(config, engine, store, self.owner, stop=shutdown.abort_work)
        self.next_config: Config | None = None

    def reload(self, config: Config) -> None:
        self.config = config
        self.next_config = config

    def _between_jobs(self) -> None:
        if self.next_config is not None:
            self.runner.config, self.next_config = self.next_config, None


class EmbeddedWorker(_Worker):
    """Claims jobs straight from the catalog; needs nothing but the database.

    An idle worker asks again every `poll_seconds`: one short UPDATE that matches nothing,
    cheap enough that a new version waits at most a tenth of a second for a worker; on
    SQLite another process's commit cuts the wait short (`catalog.changes`).
    """

    outages = (DBAPIError, *DRIVER_ERRORS, CatalogUnavailable)
    poll_seconds = 0.1

    def __init__(self, config: Config, engine: Any, store: Store, shutdown: Shutdown) -> None:
        super().__init__(config, engine, store, shutdown)
        self.commits: CommitWatch | None = None

    def start(self) -> None:
        log.info("worker.started", mode="embedded", worker=self.owner)

    def step(self) -> None:
        self._between_jobs()
        job = jobs.claim_next(self.engine, self.owner, self.config.worker.lease_seconds)
        if job is None:
            if self.commits is None:
                self.commits = commit_watch(self.engine)
            self.commits.wait(self.shutdown.stop_taking, self.poll_seconds)
            return
        try:
            with liveness.busy():  # a transcode is long by nature; the runner watches ffmpeg
                self.runner.run(job)
        except Exception as exc:  # e.g. the catalog went away while recording the result
            # The job keeps its lease until it runs out; then any worker takes it again.
            log.error("job.crashed", job=job.id, error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self.commits is not None:
            self.commits.close()
        log.info("worker.stopped", worker=self.owner)


@dataclass
class _Delivery:
    tag: int
    started: float
    acked: bool = False


class RabbitWorker(_Worker):
    """Consumes job messages with manual acks and prefetch from the config."""

    outages = (BrokerError, *CONNECTION_ERRORS)

    def __init__(self, config: Config, engine: Any, store: Store, shutdown: Shutdown) -> None:
        super().__init__(config, engine, store, shutdown)
        self.topology = Topology(config.broker.prefix)
        self.kinds = config.transcode.kinds
        self.early_ack_seconds = config.worker.early_ack_seconds
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        self.current: _Delivery | None = None
        self.future: Future[None] | None = None
        self.consumer_tags: list[str] = []
        self.connection: BlockingConnection | None = None
        self.channel: BlockingChannel | None = None

    def start(self) -> None:
        self.connection = connect(self.config.broker.url)
        self.channel = self.connection.channel()
        self.topology.declare(self.channel, self.kinds)
        self.channel.basic_qos(prefetch_count=self.config.worker.prefetch, global_qos=True)
        self._consume(self.connection, self.channel)
        log.info("worker.connected", broker=redact(self.config.broker.url), worker=self.owner,
                 kinds=self.kinds)

    def step(self) -> None:
        assert self.connection is not None and self.channel is not None
        self.connection.process_data_events(time_limit=0.5)
        current = self.current
        if current is None:
            self._between_jobs()
        if (current and not current.acked
                and time.monotonic() - current.started > self.early_ack_seconds):
            self._cancel_consumers(self.channel)
            self.channel.basic_ack(current.tag)
            current.acked = True
            log.info("worker.early_ack", delivery_tag=current.tag)
        if current is None and not self.consumer_tags:
            self._consume(self.connection, self.channel)

    def disconnect(self) -> None:
        """The broker went away: let the current job end (its message comes back to
        someone; the catalog decides who runs it), then reconnect."""
        self._wait_for_job()
        if self.connection is not None and self.connection.is_open:
            with contextlib.suppress(*CONNECTION_ERRORS):
                self.connection.close()
        self.connection = self.channel = None

    def close(self) -> None:
        if self.connection is not None and self.channel is not None:
            with contextlib.suppress(*CONNECTION_ERRORS):
                self._drain(self.connection, self.channel)
                self.connection.close()
        self._wait_for_job()
        self.executor.shutdown(wait=True)
        log.info("worker.stopped", worker=self.owner)

    def _consume(self, connection: BlockingConnection, channel: BlockingChannel) -> None:
        def on_message(ch: BlockingChannel, method: Basic.Deliver, props: BasicProperties,
                       body: bytes) -> None:
            self._on_message(connection, ch, method, props, body)

        self.consumer_tags = [channel.basic_consume(self.topology.work_queue(kind), on_message)
                              for kind in self.kinds]

    def _drain(self, connection: BlockingConnection, channel: BlockingChannel) -> None:
        """Shutdown: take no more messages, let the current job end, answer its message."""
        self._cancel_consumers(channel)
        while self.future is not None and not self.future.done():
            connection.process_data_events(time_limit=0.2)
        connection.process_data_events(time_limit=0)

    def _cancel_consumers(self, channel: BlockingChannel) -> None:
        for tag in self.consumer_tags:
            channel.basic_cancel(tag)
        self.consumer_tags = []

    def _wait_for_job(self) -> None:
        if self.future is not None:
            self.future.result()

    def _on_message(self, connection: BlockingConnection, channel: BlockingChannel,
                    method: Basic.Deliver, props: BasicProperties, body: bytes) -> None:
        try:
            message = decode(body)
        except MalformedMessage as exc:
            log.error("message.malformed", message_id=props.message_id, error=str(exc),
                      routing_key=method.routing_key)
            channel.basic_nack(method.delivery_tag, requeue=False)
            return
        delivery = _Delivery(method.delivery_tag, time.monotonic())
        self.current = delivery

        def answer(action: str) -> None:
            def callback() -> None:
                self.current = None
                if delivery.acked or not channel.is_open:
                    return
                if action == "ack":
                    channel.basic_ack(delivery.tag)
                else:
                    channel.basic_nack(delivery.tag, requeue=(action == "requeue"))

            try:
                connection.add_callback_threadsafe(callback)
            except Exception:  # connection gone: the broker redelivers, the catalog decides
                self.current = None

        def work() -> None:
            try:
                action = self._handle(message.job_id, props.message_id)
            except Exception as exc:  # e.g. the catalog went away while recording the result
                log.error("job.crashed", job=message.job_id, error=f"{type(exc).__name__}: {exc}")
                action = "requeue"
            answer(action)

        self.future = self.executor.submit(work)

    def _take_over(self, job_id: int) -> ClaimedJob | None:
        """A redelivered job whose worker is gone is taken over now, not at lease expiry.

        RabbitMQ hands a dead worker's message to another within milliseconds, while the
        catalog still shows the dead worker's lease. Gone is certain at once for a
        process of this host that no longer runs; for another host it is a heartbeat
        silent for `takeover_after_seconds`, which this waits for (a little longer than
        that, at most) before leaving the job to its holder after all.
        """
        patience = time.monotonic() + self.config.worker.takeover_after_seconds * 1.5
        while not self.shutdown.stop_taking.is_set():
            held = jobs.holder(self.engine, job_id)
            if held is None or held[0] != JobState.RUNNING or not held[1]:
                return None
            process = held[1]  # a lease owner is its worker's process name
            if self._is_gone(process):
                job = jobs.take_over(self.engine, job_id, held[1], self.owner,
                                     self.config.worker.lease_seconds)
                if job is not None:
                    log.warning("job.taken_over", job=job_id, from_worker=held[1],
                                worker=self.owner)
                return job
            if time.monotonic() > patience:
                return None
            self.shutdown.stop_taking.wait(2.0)
        return None

    def _is_gone(self, process: str) -> bool:
        owner = owner_of(process)
        if owner is not None and owner.host == host():
            return left_by_dead_process(owner)
        seen = heartbeats.last_seen(self.engine, heartbeat_name(self.role, process))
        silent = (utcnow() - seen).total_seconds() if seen else float("inf")
        return silent > self.config.worker.takeover_after_seconds

    def _handle(self, job_id: int, message_id: str | None) -> str:
        """Claim and run one job; the result says how to answer its message."""
        try:
            job = jobs.claim(self.engine, job_id, self.owner, self.config.worker.lease_seconds)
        except DataError as exc:  # the message names something no row can be: not an outage
            log.error("message.malformed", message_id=message_id, job=job_id,
                      error=f"the catalog refuses job id {job_id}: {describe(exc)}")
            return "dead-letter"
        except Exception as exc:
            log.warning("worker.catalog_unavailable", job=job_id, error=str(exc))
            time.sleep(1.0)
            return "requeue"
        if job is None:
            job = self._take_over(job_id)
        if job is None:
            log.info("job.skipped", job=job_id, message_id=message_id,
                     reason="already done, failed, or held by another worker")
            return "ack"
        outcome: RunOutcome = self.runner.run(job)
        return {"failed": "dead-letter", "released": "requeue"}.get(outcome.status, "ack")
