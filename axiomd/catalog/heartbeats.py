"""Daemons' signs of life in the catalog: one row per process, read by `axiomd status`.

A row is written every few seconds by its process (`beat`), removed on a clean stop
(`forget`), and ignored then pruned once older than `[status] heartbeat_expire_seconds`
(`expire`), so a host retired without a clean stop stops counting eventually;
`forget_host` retires one at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd.catalog.db import transaction
from axiomd.catalog.models import heartbeat_t, utcnow
from axiomd.identity import host


@dataclass(frozen=True)
class Heartbeat:
    """One daemon's last sign of life, with what it chose to report about itself."""

    process: str
    role: str
    host: str
    seen_at: datetime
    detail: dict[str, Any] | None = None


def beat(engine: Engine, process: str, role: str, host: str, now: datetime | None = None) -> None:
    """Record that `process` is alive now; its `detail` is left as it was."""
    seen = now or utcnow()
    with engine.begin() as conn:
        updated = conn.execute(
            heartbeat_t.update().where(heartbeat_t.c.process == process).values(seen_at=seen)
        ).rowcount
        if not updated:
            conn.execute(heartbeat_t.insert().values(process=process, role=role, host=host,
                                                     seen_at=seen))


def forget(engine: Engine, process: str) -> None:
    """Remove a process's row: a clean stop is not a dead process."""
    with engine.begin() as conn:
        conn.execute(heartbeat_t.delete().where(heartbeat_t.c.process == process))


def report_roots(engine: Engine, process: str, missing: Sequence[str], polled: Sequence[str]) -> None:
    """A watcher's drop roots that are missing, or polled because inotify ran out.

    Stored as the heartbeat's `detail`, so `axiomd status` on any host can name them.
    `process` is the watcher's Pulse identity (`watcher@host.pid`); a row not there yet
    is created, so the first report is never lost.
    """
    detail = {"roots_missing": sorted(missing), "roots_polled": sorted(polled)}

    def work(conn: Any) -> None:
        updated = conn.execute(
            heartbeat_t.update().where(heartbeat_t.c.process == process).values(detail=detail)
        ).rowcount
        if not updated:
            role = process.split("@", 1)[0] if "@" in process else "watcher"
            conn.execute(heartbeat_t.insert().values(process=process, role=role,
                                                     host=host(),
                                                     seen_at=utcnow(), detail=detail))

    transaction(engine, work)


def expire(engine: Engine, older_than: datetime) -> int:
    """Prune rows last seen before `older_than`: such a process is gone for good."""
    with engine.begin() as conn:
        return conn.execute(heartbeat_t.delete().where(heartbeat_t.c.seen_at < older_than)).rowcount


def recent(engine: Engine, since: datetime) -> list[Heartbeat]:
    """Every heartbeat seen after `since`, by role then process."""
    with engine.connect() as conn:
        rows = conn.execute(select(heartbeat_t).where(heartbeat_t.c.seen_at >= since)
                            .order_by(heartbeat_t.c.role, heartbeat_t.c.process)).all()
    return [Heartbeat(r.process, r.role, r.host, r.seen_at, r.detail) for r in rows]


def last_seen(engine: Engine, process: str) -> datetime | None:
    """When `process` (`role@host.pid.instance`) last beat; None if it never did or left."""
    with engine.connect() as conn:
        return conn.execute(select(heartbeat_t.c.seen_at)
                            .where(heartbeat_t.c.process == process)).scalar()


def forget_host(engine: Engine, host: str) -> int:
    """Retire a host on purpose: delete all its processes' heartbeats; how many went."""
    with engine.begin() as conn:
        return conn.execute(heartbeat_t.delete().where(heartbeat_t.c.host == host)).rowcount
