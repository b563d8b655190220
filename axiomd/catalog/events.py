"""Version events in the catalog: written with the change, read back as JSON.

`record_event` runs inside the transaction that changes the version, so an event exists
exactly when its change committed. In broker mode it also writes an outbox row the relay
publishes to `<prefix>.events`; webhooks fan out from the event table itself
(`catalog/deliveries.py`). The JSON shape is `axiomd/events.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from axiomd import events
from axiomd.catalog.backends import backend_for
from axiomd.catalog.models import asset_t, event_t, job_t, utcnow, version_t
from axiomd.lifecycle import JobState


def record_event(conn: Connection, name: str, version_id: int, payload: Mapping[str, Any],
                 *, with_outbox: bool, now: datetime | None = None) -> int:
    """Write the event (and in broker mode its outbox row) in `conn`'s transaction."""
    return backend_for(conn).insert_event(conn, {
        "name": name, "version_id": version_id, "payload": dict(payload),
        "now": now or utcnow()}, with_outbox)


def events_after(engine: Engine, after_id: int = 0, limit: int = 500,
                 asset: str | None = None) -> list[dict[str, Any]]:
    """Events with an id above `after_id`, oldest first, as JSON (what `events` tails)."""
    with engine.connect() as conn:
        query = _query().where(event_t.c.id > after_id)
        if asset is not None:
            query = query.where(asset_t.c.name == asset)
        return _render(conn, conn.execute(query.order_by(event_t.c.id).limit(limit)).all())


def render_events(conn: Connection, event_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The JSON of the given events, by id (for the relay and the webhooks)."""
    if not event_ids:
        return {}
    rows = conn.execute(_query().where(event_t.c.id.in_(list(event_ids)))).all()
    return {e["id"]: e for e in _render(conn, rows)}


def last_event_id(engine: Engine) -> int:
    """The newest event's id, 0 for none: where `events --follow` without history starts."""
    with engine.connect() as conn:
        return int(conn.execute(select(event_t.c.id).order_by(event_t.c.id.desc()).limit(1))
                   .scalar() or 0)


def _query() -> Any:
    parent = version_t.alias("parent")
    return (
        select(event_t, asset_t.c.name.label("asset"), version_t.c.number,
               version_t.c.store_path, parent.c.number.label("parent_number"))
        .join(version_t, version_t.c.id == event_t.c.version_id)
        .join(asset_t, asset_t.c.id == version_t.c.asset_id)
        .outerjoin(parent, parent.c.id == version_t.c.parent_id)
    )


def _render(conn: Connection, rows: Iterable[Any]) -> list[dict[str, Any]]:
    rows = list(rows)
    complete = {r.version_id for r in rows if r.payload.get("status") == "complete"}
    outputs = _outputs(conn, complete)
    return [events.render(
        event_id=r.id, name=r.name, created_at=r.created_at, asset=r.asset, number=r.number,
        parent_number=r.parent_number, store_path=r.store_path, payload=r.payload,
        outputs=outputs.get(r.version_id) if r.payload.get("status") == "complete" else None)
        for r in rows]


def _outputs(conn: Connection, version_ids: set[int]) -> dict[int, dict[str, str | None]]:
    """A complete version's outputs: its done jobs' files, which never change again."""
    if not version_ids:
        return {}
    found: dict[int, list[tuple[str, Any]]] = {}
    for row in conn.execute(
            select(job_t.c.version_id, job_t.c.kind, job_t.c.outputs)
            .where(job_t.c.version_id.in_(version_ids), job_t.c.status == JobState.DONE)
            .order_by(job_t.c.id)):
        found.setdefault(row.version_id, []).append((row.kind, row.outputs))
    return {vid: events.outputs_of(jobs) for vid, jobs in found.items()}
