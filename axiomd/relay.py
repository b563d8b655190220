"""The outbox relay: catalog outbox rows → RabbitMQ, at least once, in order.

`publish_outbox` claims a batch of unsent rows (`FOR UPDATE SKIP LOCKED`, so several
relays never publish the same row in normal operation), publishes each as a persistent
message with publisher confirms, and marks the batch sent in the same transaction, after
the broker confirmed. A crash between confirm and commit republishes the batch: workers
are idempotent. The relay also re-publishes jobs whose worker died holding the lease.
Rows that carry a version event go to the `<prefix>.events` topic exchange, routed by
the event's name, in outbox order.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from axiomd.broker import CONNECTION_ERRORS, Topology, connect
from axiomd.catalog import jobs, outbox
from axiomd.catalog.db import redact
from axiomd.catalog.outbox import EventRow
from axiomd.config import Config
from axiomd.daemon import Service, Shutdown
from axiomd.errors import BrokerError, CatalogUnavailable
from axiomd.log import get_logger
from axiomd.messages import JobMessage

log = get_logger("relay")


class OutboxPublisher:
    """Publishes outbox rows on one channel in confirm mode, a whole batch in flight at once.

    pika's `BlockingChannel` waits for each confirm before it sends the next message, which
    held the relay to one message per broker round trip. So the batch goes out on the
    asynchronous channel beneath it, and the confirms (often several in one `multiple`
    ack) are counted while `process_data_events` keeps the connection serviced.
    """

    confirm_timeout = 30.0

    def __init__(self, connection: BlockingConnection, channel: BlockingChannel,
                 topology: Topology) -> None:
        self.connection = connection
        self.channel = channel
        self.topology = topology
        self._retry_queues: set[str] = set()
        self._async = channel._impl
        self._in_flight: dict[int, int] = {}  # delivery tag -> outbox row id
        self._confirmed: list[int] = []
        self._refused: set[int] = set()
        self._last_tag = 0
        self._selected = False
        self._async.confirm_delivery(ack_nack_callback=self._on_confirm,
                                     callback=self._on_selected)
        self._async.add_on_return_callback(self._on_return)
        while not self._selected:
            connection.process_data_events(time_limit=1.0)

    def publish(self, rows: Sequence[Any]) -> list[int]:
        """Publish rows; returns the ids RabbitMQ confirmed (the others stay unsent)."""
        self._confirmed, self._refused = [], set()
        for row in rows:
            self._send(row)
        deadline = time.monotonic() + self.confirm_timeout
        while self._in_flight:
            if time.monotonic() > deadline:
                raise BrokerError(f"RabbitMQ did not confirm {len(self._in_flight)} messages "
                                  f"within {self.confirm_timeout:.0f} s")
            self.connection.process_data_events(time_limit=0.5)
        return [row_id for row_id in self._confirmed if row_id not in self._refused]

    def _send(self, row: Any) -> None:
        if isinstance(row, EventRow):
            self._send_event(row)
            return
        message = JobMessage(row.job_id, row.version_id, row.preset, row.kind, row.store_path,
                             row.checksum)
        exchange, key = self.topology.exchange, row.routing_key
        if row.delay_seconds > 0:
            key = self.topology.retry_queue(row.kind, row.delay_seconds)
            if key not in self._retry_queues:
                self.topology.declare_retry(self.channel, row.kind, row.delay_seconds)
                self._retry_queues.add(key)
            exchange = ""
        self._async.basic_publish(
            exchange, key, json.dumps(message.to_body()).encode(), mandatory=True,
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type="application/json",
                message_id=str(row.id),
                type=row.kind,
                headers={"job_id": row.job_id},
            ),
        )
        self._last_tag += 1
        self._in_flight[self._last_tag] = row.id

    def _send_event(self, row: EventRow) -> None:
        """Not mandatory: an event nobody has bound a queue for yet is not an error."""
        self._async.basic_publish(
            self.topology.events, row.routing_key, row.body, mandatory=False,
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type="application/json",
                message_id=f"event-{row.event_id}",
                type=row.routing_key,
                headers={"event_id": row.event_id},
            ),
        )
        self._last_tag += 1
        self._in_flight[self._last_tag] = row.id

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tags = [t for t in self._in_flight if t <= method.delivery_tag] if method.multiple \
            else [method.delivery_tag]
        ids = [self._in_flight.pop(t) for t in tags if t in self._in_flight]
        if isinstance(method, Basic.Ack):
            self._confirmed.extend(ids)
        else:
            log.warning("relay.nacked", messages=len(ids))
        if not self._in_flight:
            self._wake()

    def _on_selected(self, _frame: Any) -> None:
        self._selected = True
        self._wake()

    def _wake(self) -> None:
        """End the current `process_data_events` wait: it returns early only for events of
        the blocking layer, and these callbacks come from the layer beneath it."""
        self.connection.call_later(0, lambda: None)

    def _on_return(self, _channel: Any, method: Basic.Return, props: BasicProperties,
                   _body: bytes) -> None:
        """Unroutable (no queue for the job kind): RabbitMQ returns it, then acks it."""
        row_id = int(props.message_id)
        self._refused.add(row_id)
        log.error("relay.unroutable", message_id=row_id, routing_key=method.routing_key,
                  job=(props.headers or {}).get("job_id"))


def publish_outbox(engine: Engine, publisher: OutboxPublisher, batch: int = 200) -> int:
    """Publish one batch of unsent rows; returns how many were sent."""
    published = outbox.publish_batch(engine, publisher.publish, batch)
    if published.messages:
        log.debug("relay.published_rows", jobs=list(published.jobs),
                  events=list(published.events))
    return published.messages


class Relay(Service):
    """Publishes the outbox, and re-publishes jobs whose worker died holding the lease."""

    role = "relay"
    outages = (BrokerError, *CONNECTION_ERRORS, DBAPIError, CatalogUnavailable)

    def __init__(self, config: Config, engine: Engine, shutdown: Shutdown) -> None:
        super().__init__(config, engine, shutdown)
        self.topology = Topology(config.broker.prefix)
        self.connection: BlockingConnection | None = None
        self.publisher: OutboxPublisher | None = None
        self.last_reap = 0.0

    def start(self) -> None:
        self.connection = connect(self.config.broker.url)
        channel = self.connection.channel()
        self.topology.declare(channel, self.config.transcode.kinds)
        self.publisher = OutboxPublisher(self.connection, channel, self.topology)
        log.info("relay.connected", broker=redact(self.config.broker.url))

    def step(self) -> None:
        assert self.connection is not None and self.publisher is not None
        reap_every = max(1.0, self.config.worker.lease_seconds / 2)
        if time.monotonic() - self.last_reap > reap_every:
            self.last_reap = time.monotonic()
            reaped = jobs.requeue_expired(self.engine, with_outbox=True)
            if reaped:
                log.warning("relay.requeued_expired", jobs=reaped)
        sent = publish_outbox(self.engine, self.publisher)
        if sent:
            log.info("relay.published", messages=sent)
        else:
            self.connection.process_data_events(time_limit=0.2)

    def disconnect(self) -> None:
        _close_quietly(self.connection)
        self.connection = self.publisher = None

    def close(self) -> None:
        self.disconnect()
        log.info("relay.stopped")


def _close_quietly(connection: BlockingConnection | None) -> None:
    """A connection that stopped answering is dropped before the next one is opened."""
    if connection is not None and connection.is_open:
        with contextlib.suppress(*CONNECTION_ERRORS):
            connection.close()
