"""Webhook deliveries in the catalog: fan-out from the event table, then due attempts.

The fan-out takes events nobody has fanned out yet (`hooked_at IS NULL`, locked with
`SKIP LOCKED` so several processes share the work), makes one `webhook_delivery` per
webhook that subscribes to the event, and marks the event, in one transaction: every
committed event gets its deliveries exactly once. A webhook added later gets the events
from then on, not the whole history.

A delivery keeps its `delivery_id` on every attempt; each attempt is leased by moving
`next_attempt_at` forward, so a process that dies mid-POST leaves it due again later.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from axiomd import events
from axiomd.catalog.db import transaction
from axiomd.catalog.events import render_events
from axiomd.catalog.models import delivery_t, event_t, utcnow

PENDING, DELIVERED = "pending", "delivered"


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now, with the exact body to send."""

    id: int
    delivery_id: str
    event_id: int
    event: str
    attempts: int
    body: bytes


def fan_out(engine: Engine, hooks: Sequence[tuple[str, Sequence[str]]],
            batch: int = 500) -> int:
    """Make the deliveries of events not fanned out yet; returns how many events."""

    def work(conn: Connection) -> int:
        now = utcnow()
        rows = conn.execute(
            select(event_t.c.id, event_t.c.name).where(event_t.c.hooked_at.is_(None))
            .order_by(event_t.c.id).limit(batch).with_for_update(skip_locked=True)).all()
        if not rows:
            return 0
        deliveries = [
            {"webhook": key, "event_id": row.id, "delivery_id": str(uuid.uuid4()),
             "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}
            for row in rows for key, patterns in hooks if events.selected(patterns, row.name)]
        if deliveries:
            conn.execute(insert(delivery_t), deliveries)
        conn.execute(update(event_t).where(event_t.c.id.in_([r.id for r in rows]))
                     .values(hooked_at=now))
        return len(rows)

    return transaction(engine, work)


def claim_due(engine: Engine, webhook: str, lease_seconds: float, limit: int = 20) -> list[Due]:
    """Take this webhook's due deliveries, oldest event first, for `lease_seconds`.

    Events reach a receiver in order: a delivery waiting out its backoff holds back
    every later one, which are not due before it is.
    """

    def work(conn: Connection) -> list[Due]:
        now = utcnow()
        pending = conn.execute(
            select(delivery_t.c.id, delivery_t.c.delivery_id, delivery_t.c.event_id,
                   delivery_t.c.attempts, delivery_t.c.next_attempt_at, event_t.c.name)
            .join(event_t, event_t.c.id == delivery_t.c.event_id)
            .where(delivery_t.c.webhook == webhook, delivery_t.c.status == PENDING)
            .order_by(delivery_t.c.event_id).limit(limit)
            .with_for_update(of=delivery_t, skip_locked=True)).all()
        rows = list(itertools.takewhile(lambda r: _aware(r.next_attempt_at) <= now, pending))
        if not rows:
            return []
        conn.execute(update(delivery_t).where(delivery_t.c.id.in_([r.id for r in rows]))
                     .values(next_attempt_at=now + timedelta(seconds=lease_seconds)))
        rendered = render_events(conn, [r.event_id for r in rows])
        return [Due(r.id, r.delivery_id, r.event_id, r.name, r.attempts,
                    events.body(rendered[r.event_id])) for r in rows]

    return transaction(engine, work)


def delivered(engine: Engine, delivery: int) -> None:
    _finish(engine, delivery, status=DELIVERED, delivered_at=utcnow(), last_error=None)


def hand_back(engine: Engine, deliveries: Sequence[int]) -> None:
    """Claimed deliveries not attempted (an earlier one failed): due again at once, still
    behind the failed one."""
    if deliveries:
        with engine.begin() as conn:
            conn.execute(update(delivery_t).where(delivery_t.c.id.in_(list(deliveries)))
                         .values(next_attempt_at=utcnow()))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def attempt_failed(engine: Engine, delivery: int, error: str, retry_in: float) -> None:
    _finish(engine, delivery, last_error=error[:2000],
            next_attempt_at=utcnow() + timedelta(seconds=retry_in))


def _finish(engine: Engine, delivery: int, **values: Any) -> None:
    work: Callable[[Connection], Any] = lambda conn: conn.execute(  # noqa: E731
        update(delivery_t).where(delivery_t.c.id == delivery)
        .values(attempts=delivery_t.c.attempts + 1, **values))
    transaction(engine, work)


def backlog(engine: Engine) -> dict[str, int]:
    """Undelivered deliveries per webhook (for status and tests)."""
    with engine.connect() as conn:
        rows = conn.execute(select(delivery_t.c.webhook, func.count())
                            .where(delivery_t.c.status == PENDING)
                            .group_by(delivery_t.c.webhook))
        return {webhook: int(n) for webhook, n in rows}
