"""RabbitMQ topology and connections (pika). Names all start with `[broker] prefix`.

    {prefix}.jobs          topic exchange; routing key `job.<kind>`
    {prefix}.<kind>        durable work queue per job kind, dead-letters to {prefix}.dead
    {prefix}.retry.<kind>.<ms>  holds a retried job for <ms>, then dead-letters it back to
                           {prefix}.jobs with `job.<kind>` (one queue per delay, so a long
                           delay never holds up a short one)
    {prefix}.events        topic exchange of version events (docs/events.md); routing key =
                           the event name; consumers bind queues of their own
    {prefix}.dead          fanout exchange and queue: malformed messages and jobs that
                           failed for good, kept for inspection
"""

from __future__ import annotations

from collections.abc import Iterable

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from axiomd.catalog.db import redact
from axiomd.errors import BrokerError
from axiomd.messages import routing_key

CONNECTION_ERRORS = (pika.exceptions.AMQPError, OSError)


class Topology:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.exchange = f"{prefix}.jobs"
        self.dead = f"{prefix}.dead"
        self.events = f"{prefix}.events"

    def work_queue(self, kind: str) -> str:
        return f"{self.prefix}.{kind}"

    def retry_queue(self, kind: str, delay_seconds: float) -> str:
        return f"{self.prefix}.retry.{kind}.{int(delay_seconds * 1000)}"

    def declare(self, channel: BlockingChannel, kinds: Iterable[str]) -> None:
        """Idempotent: safe from every process at every start."""
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.exchange_declare(self.dead, exchange_type="fanout", durable=True)
        channel.exchange_declare(self.events, exchange_type="topic", durable=True)
        channel.queue_declare(self.dead, durable=True)
        channel.queue_bind(self.dead, self.dead)
        for kind in kinds:
            queue = self.work_queue(kind)
            channel.queue_declare(queue, durable=True,
                                  arguments={"x-dead-letter-exchange": self.dead})
            channel.queue_bind(queue, self.exchange, routing_key=routing_key(kind))

    def declare_retry(self, channel: BlockingChannel, kind: str, delay_seconds: float) -> str:
        queue = self.retry_queue(kind, delay_seconds)
        channel.queue_declare(queue, durable=True, arguments={
            "x-message-ttl": int(delay_seconds * 1000),
            "x-dead-letter-exchange": self.exchange,
            "x-dead-letter-routing-key": routing_key(kind),
        })
        return queue


def connect(url: str, heartbeat: int = 30) -> BlockingConnection:
    params = pika.URLParameters(url)
    if "heartbeat=" not in url:
        params.heartbeat = heartbeat
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.client_properties = {"connection_name": "axiomd"}
    try:
        return pika.BlockingConnection(params)
    except CONNECTION_ERRORS as exc:
        raise BrokerError(f"cannot connect to RabbitMQ at {redact(url)}: "
                          f"{type(exc).__name__} {exc}") from exc
