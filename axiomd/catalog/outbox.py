"""The transactional outbox: messages written with the change that caused them.

A row is written in the same transaction as its job (by allocation, a retry, or a
reaped lease) or as its version event (`catalog/events.py`), and published later by the
relay, which marks it sent only after RabbitMQ confirmed it. The message body is built
from the catalog when it is published, so it always carries the job's current facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from axiomd import events
from axiomd.catalog import statements as sql
from axiomd.catalog.db import transaction
from axiomd.catalog.events import render_events
from axiomd.catalog.models import job_t, outbox_t, utcnow, version_t
from axiomd.messages import ROUTING_PREFIX


@dataclass(frozen=True)
class EventRow:
    """An outbox row that carries a version event: published to `<prefix>.events`."""

    id: int
    event_id: int
    routing_key: str
    body: bytes


def enqueue(conn: Connection, now: datetime, *, version_id: int | None = None,
            job_ids: Sequence[int] = (), delay: float = 0.0) -> None:
    """Outbox rows for a version's jobs, or for the given jobs."""
    params = {"prefix": ROUTING_PREFIX, "delay": delay, "now": now}
    if version_id is not None:
        conn.execute(sql.ENQUEUE_VERSION, {**params, "version_id": version_id})
    elif job_ids:
        conn.execute(sql.ENQUEUE_JOBS, {**params, "ids": list(job_ids)})


@dataclass(frozen=True)
class Published:
    """What one batch carried: outbox rows, and the jobs and events they named."""

    messages: int
    jobs: tuple[int, ...]
    events: tuple[int, ...]


def publish_batch(engine: Engine, publish: Callable[[Sequence[Any]], list[int]],
                  batch: int = 200) -> Published:
    """Hand one batch of unsent rows to `publish`, and mark sent the ids it returns.

    The rows stay locked (`SKIP LOCKED` for other relays) until `publish` has the
    broker's confirms, and are marked in the same transaction: a crash in between
    publishes them again, which consumers are built to shrug off.
    """

    def work(conn: Connection) -> Published:
        rows: list[Any] = conn.execute(
            select(outbox_t, job_t.c.version_id, job_t.c.preset, job_t.c.kind,
                   version_t.c.store_path, version_t.c.checksum)
            .outerjoin(job_t, job_t.c.id == outbox_t.c.job_id)
            .outerjoin(version_t, version_t.c.id == job_t.c.version_id)
            .where(outbox_t.c.sent_at.is_(None)).order_by(outbox_t.c.id)
            .limit(batch).with_for_update(of=outbox_t, skip_locked=True)
        ).all()
        rendered = render_events(conn, [r.event_id for r in rows if r.event_id is not None])
        rows = [r if r.event_id is None else EventRow(
            r.id, r.event_id, r.routing_key, events.body(rendered[r.event_id])) for r in rows]
        sent = publish(rows) if rows else []
        if sent:
            conn.execute(update(outbox_t).where(outbox_t.c.id.in_(sent)).values(sent_at=utcnow()))
        done = [r for r in rows if r.id in set(sent)]
        return Published(len(sent), tuple(r.job_id for r in done if r.event_id is None),
                         tuple(r.event_id for r in done if r.event_id is not None))

    return transaction(engine, work, attempts=3)
