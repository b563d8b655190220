"""The outbox relay: catalog outbox rows → RabbitMQ, at least once, in order.

`publish_outbox` claims a batch of unsent rows (`FOR UPDATE SKIP LOCKED`, so several
relays never publish the same row in normal operation), publishes each as a persistent
message with publisher confirms, and marks the batch sent in the same transaction, after
the broker confirmed. A crash between confirm and commit republishes the batch: workers
are idempotent. The relay also re-publishes jobs whose worker died holding the lease.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from axiomd.broker import CONNECTION_ERRORS, Topology, connect
from axiomd.catalog import jobs
from axiomd.catalog.db import transaction
from axiomd.catalog.models import job_t, outbox_t, utcnow, version_t
from axiomd.config import Config
from axiomd.daemon import Pulse, Shutdown, sd_notify
from axiomd.errors import BrokerError
from axiomd.log import get_logger
from axiomd.messages import JobMessage

log = get_logger("relay")


class OutboxPublisher:
    """Publishes outbox rows on one confirmed channel."""

    def __init__(self, channel: BlockingChannel, topology: Topology) -> None:
        self.channel = channel
        self.topology = topology
        self._retry_queues: set[str] = set()
        channel.confirm_delivery()

    def publish(self, row: Any) -> None:
        message = JobMessage(row.job_id, row.version_id, row.preset, row.kind, row.store_path,
                             row.checksum)
        exchange, key = self.topology.exchange, row.routing_key
        if row.delay_seconds > 0:
            key = self.topology.retry_queue(row.kind, row.delay_seconds)
            if key not in self._retry_queues:
                self.topology.declare_retry(self.channel, row.kind, row.delay_seconds)
                self._retry_queues.add(key)
            exchange = ""
        self.channel.basic_publish(
            exchange, key, json.dumps(message.to_body()).encode(), mandatory=True,
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type="application/json",
                message_id=str(row.id),
                type=row.kind,
                headers={"job_id": row.job_id},
            ),
        )


def publish_outbox(engine: Engine, publisher: OutboxPublisher, batch: int = 200) -> int:
    """Publish one batch of unsent rows; returns how many were sent."""

    def work(conn: Connection) -> int:
        rows = conn.execute(
            select(outbox_t, job_t.c.version_id, job_t.c.preset, job_t.c.kind,
                   version_t.c.store_path, version_t.c.checksum)
            .join(job_t, job_t.c.id == outbox_t.c.job_id)
            .join(version_t, version_t.c.id == job_t.c.version_id)
            .where(outbox_t.c.sent_at.is_(None)).order_by(outbox_t.c.id)
            .limit(batch).with_for_update(of=outbox_t, skip_locked=True)
        ).all()
        sent = []
        for row in rows:
            try:
                publisher.publish(row)
            except pika.exceptions.UnroutableError:
                log.error("relay.unroutable", message_id=row.id, routing_key=row.routing_key,
                          job=row.job_id)
                continue
            sent.append(row.id)
            log.debug("relay.message_sent", message_id=row.id, job=row.job_id)
        if sent:
            conn.execute(update(outbox_t).where(outbox_t.c.id.in_(sent)).values(sent_at=utcnow()))
        return len(sent)

    return transaction(engine, work, attempts=3)


class Relay:
    def __init__(self, config: Config, engine: Engine, shutdown: Shutdown) -> None:
        self.config = config
        self.engine = engine
        self.shutdown = shutdown
        self.topology = Topology(config.broker.prefix)
        self.kinds = config.transcode.kinds

    def run(self, notify_ready: bool = True) -> None:
        pulse = Pulse(self.engine, "relay").start()
        delay = 0.5
        ready = False
        while not self.shutdown.stop_taking.is_set():
            try:
                connection = connect(self.config.broker.url)
                channel = connection.channel()
                self.topology.declare(channel, self.kinds)
                publisher = OutboxPublisher(channel, self.topology)
                log.info("relay.connected", broker=self.config.broker.url)
                delay = 0.5
                if notify_ready and not ready:
                    sd_notify("READY=1")
                    ready = True
                self._loop(connection, publisher)
                connection.close()
            except (BrokerError, *CONNECTION_ERRORS) as exc:
                log.warning("relay.broker_unavailable", error=str(exc), retry_in=delay)
                self.shutdown.stop_taking.wait(delay)
                delay = min(delay * 2, 30.0)
        pulse.forget()
        log.info("relay.stopped")

    def _loop(self, connection: Any, publisher: OutboxPublisher) -> None:
        reap_every = max(1.0, self.config.worker.lease_seconds / 2)
        last_reap = 0.0
        while not self.shutdown.stop_taking.is_set():
            try:
                if time.monotonic() - last_reap > reap_every:
                    last_reap = time.monotonic()
                    reaped = jobs.requeue_expired(self.engine, with_outbox=True)
                    if reaped:
                        log.warning("relay.requeued_expired", jobs=reaped)
                sent = publish_outbox(self.engine, publisher)
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:  # catalog unreachable: wait and try again
                log.warning("relay.catalog_unavailable", error=str(exc))
                sent = 0
                self.shutdown.stop_taking.wait(1.0)
            if sent:
                log.info("relay.published", messages=sent)
            else:
                connection.process_data_events(time_limit=0.2)
