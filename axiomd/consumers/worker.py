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

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from axiomd.broker import CONNECTION_ERRORS, Topology, connect
from axiomd.catalog import jobs
from axiomd.config import Config
from axiomd.consumers.runner import JobRunner, RunOutcome
from axiomd.daemon import Pulse, Shutdown, reload_config, sd_notify
from axiomd.errors import BrokerError, MalformedMessage
from axiomd.identity import worker_name
from axiomd.log import get_logger
from axiomd.messages import decode
from axiomd.store import Store

log = get_logger("worker")


class _Worker:
    """What both kinds of worker hold: one owner id and a runner stopped by the shutdown."""

    def __init__(self, config: Config, engine: Any, store: Store, shutdown: Shutdown) -> None:
        self.config = config
        self.engine = engine
        self.shutdown = shutdown
        self.owner = worker_name()
        self.runner = JobRunner(config, engine, store, self.owner, stop=shutdown.abort_work)


class EmbeddedWorker(_Worker):
    """Claims jobs straight from the catalog; needs nothing but the database.

    An idle worker asks again every `poll_seconds`: one short UPDATE that matches nothing,
    cheap enough that a new version waits at most a tenth of a second for a worker.
    """

    poll_seconds = 0.1

    def run(self) -> None:
        pulse = Pulse(self.engine, "worker").start()
        sd_notify("READY=1")
        log.info("worker.started", mode="embedded", worker=self.owner)
        delay = self.poll_seconds
        while not self.shutdown.stop_taking.is_set():
            reload_presets(self.shutdown, self.runner)
            try:
                job = jobs.claim_next(self.engine, self.owner, self.config.worker.lease_seconds)
            except Exception as exc:
                log.warning("worker.catalog_unavailable", error=str(exc), retry_in=delay)
                self.shutdown.stop_taking.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = self.poll_seconds
            if job is None:
                self.shutdown.stop_taking.wait(self.poll_seconds)
                continue
            try:
                self.runner.run(job)
            except Exception as exc:  # e.g. the catalog went away while recording the result
                # The job keeps its lease until it runs out; then any worker takes it again.
                log.error("job.crashed", job=job.id, error=f"{type(exc).__name__}: {exc}")
        pulse.forget()
        log.info("worker.stopped", worker=self.owner)


def reload_presets(shutdown: Shutdown, runner: JobRunner) -> None:
    """SIGHUP between jobs: presets, timeouts and retry settings apply to the next job."""
    if shutdown.reload.is_set():
        shutdown.reload.clear()
        new = reload_config(runner.config, "worker")
        if new is not None:
            runner.config = new


@dataclass
class _Delivery:
    tag: int
    started: float
    acked: bool = False


class RabbitWorker(_Worker):
    """Consumes job messages with manual acks and prefetch from the config."""

    def __init__(self, config: Config, engine: Any, store: Store, shutdown: Shutdown) -> None:
        super().__init__(config, engine, store, shutdown)
        self.topology = Topology(config.broker.prefix)
        self.kinds = config.transcode.kinds
        self.early_ack_seconds = config.worker.early_ack_seconds
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        self.current: _Delivery | None = None
        self.future: Future[None] | None = None
        self.consumer_tags: list[str] = []

    def run(self) -> None:
        pulse = Pulse(self.engine, "worker").start()
        delay = 0.5
        ready = False
        log.info("worker.started", mode="rabbitmq", worker=self.owner, kinds=self.kinds)
        while not self.shutdown.stop_taking.is_set():
            try:
                connection = connect(self.config.broker.url)
                channel = connection.channel()
                self.topology.declare(channel, self.kinds)
                channel.basic_qos(prefetch_count=self.config.worker.prefetch, global_qos=True)
                self._consume(connection, channel)
                log.info("worker.connected", broker=self.config.broker.url)
                if not ready:
                    sd_notify("READY=1")
                    ready = True
                delay = 0.5
                self._loop(connection, channel)
                self._drain(connection, channel)
                connection.close()
            except (BrokerError, *CONNECTION_ERRORS) as exc:
                log.warning("worker.broker_unavailable", error=str(exc), retry_in=delay)
                self._wait_for_job()
                self.shutdown.stop_taking.wait(delay)
                delay = min(delay * 2, 30.0)
        self._wait_for_job()
        self.executor.shutdown(wait=True)
        pulse.forget()
        log.info("worker.stopped", worker=self.owner)

    def _consume(self, connection: BlockingConnection, channel: BlockingChannel) -> None:
        def on_message(ch: BlockingChannel, method: Basic.Deliver, props: BasicProperties,
                       body: bytes) -> None:
            self._on_message(connection, ch, method, props, body)

        self.consumer_tags = [channel.basic_consume(self.topology.work_queue(kind), on_message)
                              for kind in self.kinds]

    def _loop(self, connection: BlockingConnection, channel: BlockingChannel) -> None:
        while not self.shutdown.stop_taking.is_set():
            connection.process_data_events(time_limit=0.5)
            if self.current is None:
                reload_presets(self.shutdown, self.runner)
            current = self.current
            if (current and not current.acked
                    and time.monotonic() - current.started > self.early_ack_seconds):
                self._cancel_consumers(channel)
                channel.basic_ack(current.tag)
                current.acked = True
                log.info("worker.early_ack", delivery_tag=current.tag)
            if current is None and not self.consumer_tags:
                self._consume(connection, channel)

    def _drain(self, connection: BlockingConnection, channel: BlockingChannel) -> None:
        """Shutdown: take no more messages, let the current job end, settle its message."""
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

        def settle(action: str) -> None:
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
            settle(action)

        self.future = self.executor.submit(work)

    def _handle(self, job_id: int, message_id: str | None) -> str:
        """Claim and run one job; the answer says how to settle its message."""
        try:
            job = jobs.claim(self.engine, job_id, self.owner, self.config.worker.lease_seconds)
        except Exception as exc:
            log.warning("worker.catalog_unavailable", job=job_id, error=str(exc))
            time.sleep(1.0)
            return "requeue"
        if job is None:
            log.info("job.skipped", job=job_id, message_id=message_id,
                     reason="already done, failed, or held by another worker")
            return "ack"
        outcome: RunOutcome = self.runner.run(job)
        return {"failed": "dead-letter", "released": "requeue"}.get(outcome.status, "ack")
