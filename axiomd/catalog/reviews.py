"""Review state, its history, and notes on versions.

A review change locks the version row, checks the version may be reviewed
(`axiomd/review.py`), appends to the `review` history, sets the current state on the
version and records `version.reviewed`, all in one transaction: the state on the
version is always the last entry of its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from axiomd import events
from axiomd.catalog.backends import backend_for
from axiomd.catalog.db import transaction
from axiomd.catalog.events import record_event
from axiomd.catalog.models import asset_t, note_t, review_t, utcnow, version_t
from axiomd.catalog.versions import VersionInfo, list_versions
from axiomd.errors import NotFound, ReviewRefused
from axiomd.lifecycle import VersionState
from axiomd.review import ReviewState, check_reviewable, review_target
from axiomd.timestamps import iso_z
from axiomd.versioning import version_label


@dataclass(frozen=True)
class Remark:
    """One entry of a version's conversation: a note, or a review change with its note."""

    asset: str
    version: str
    kind: str  # "note" or "review"
    by: str
    at: datetime
    text: str | None
    from_state: str | None = None
    to_state: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"asset": self.asset, "version": self.version, "kind": self.kind,
                               "by": self.by, "at": iso_z(self.at), "text": self.text}
        if self.kind == "review":
            out.update({"from": self.from_state, "to": self.to_state})
        return out


_STATE = text("SELECT status, review, submitted_by, note FROM version WHERE id = :id")


def review(engine: Engine, asset: str, number: int, action: str, by: str,
           note: str | None = None, *, with_outbox: bool = False) -> Remark:
    """Set a complete version's review state (`approve`, `reject`, `cbb`, `deprecate`,
    `pending`), keeping the change in its history. ReviewRefused if it is not complete."""
    target = review_target(action)

    def work(conn: Connection) -> Remark:
        now = utcnow()
        version_id = _version_id(conn, asset, number)
        backend_for(conn).lock_version(conn, version_id)
        current = conn.execute(_STATE, {"id": version_id}).one()
        check_reviewable(asset, version_label(number), current.status)
        conn.execute(insert(review_t).values(
            version_id=version_id, by=by, from_state=current.review, to_state=str(target),
            note=note or None, created_at=now))
        conn.execute(update(version_t).where(version_t.c.id == version_id)
                     .values(review=str(target)))
        record_event(conn, events.REVIEWED, version_id, events.moment(
            current.status, str(target), by, note or None, previous_review=current.review),
            with_outbox=with_outbox, now=now)
        return Remark(asset, version_label(number), "review", by, now, note or None,
                      current.review, str(target))

    return transaction(engine, work)


def add_note(engine: Engine, asset: str, number: int, note: str, by: str, *,
             with_outbox: bool = False) -> Remark:
    """A note on a version in any state; records `version.noted`."""
    if not note.strip():
        raise ReviewRefused("a note needs some text")

    def work(conn: Connection) -> Remark:
        now = utcnow()
        version_id = _version_id(conn, asset, number)
        current = conn.execute(_STATE, {"id": version_id}).one()
        conn.execute(insert(note_t).values(version_id=version_id, by=by, text=note,
                                           created_at=now))
        record_event(conn, events.NOTED, version_id,
                     events.moment(current.status, current.review, by, note),
                     with_outbox=with_outbox, now=now)
        return Remark(asset, version_label(number), "note", by, now, note)

    return transaction(engine, work)


def remarks(engine: Engine, asset: str, number: int | None = None) -> list[Remark]:
    """Notes and review changes of an asset (or one version), oldest first."""
    with engine.connect() as conn:
        if number is not None:
            _version_id(conn, asset, number)
        found = [*_rows(conn, note_t, asset, number), *_rows(conn, review_t, asset, number)]
    return sorted(found, key=lambda r: (r.at, r.kind == "review"))


def history(engine: Engine, asset: str, number: int) -> list[Remark]:
    """A version's review changes, oldest first: who, when, from → to, note."""
    return [r for r in remarks(engine, asset, number) if r.kind == "review"]


def latest(engine: Engine, asset: str, approved: bool = False) -> VersionInfo:
    """The newest complete version (the newest approved one with `approved`): what a
    DCC loader opens. NotFound says what there is instead."""
    versions = list_versions(engine, asset)
    complete = [v for v in versions if v.status == VersionState.COMPLETE]
    chosen = [v for v in complete if v.review == ReviewState.APPROVED] if approved else complete
    if chosen:
        return chosen[-1]
    if not approved:
        raise NotFound(f"{asset} has no complete version yet "
                       f"({len(versions)} version(s), none complete)")
    raise NotFound(f"{asset} has no approved version ({len(complete)} complete; approve one "
                   f"with `axiomd review {asset} vNNN approve`)")


def with_review(engine: Engine, asset: str, state: str) -> list[VersionInfo]:
    """An asset's versions in one review state (`approved`, or an action like `approve`)."""
    target = review_target(state)
    return [v for v in list_versions(engine, asset) if v.review == target]


def _version_id(conn: Connection, asset: str, number: int) -> int:
    found = conn.execute(
        select(version_t.c.id).join(asset_t, asset_t.c.id == version_t.c.asset_id)
        .where(asset_t.c.name == asset, version_t.c.number == number)).scalar()
    if found is None:
        if conn.execute(select(asset_t.c.id).where(asset_t.c.name == asset)).first() is None:
            raise NotFound(f"no asset named {asset!r}")
        raise NotFound(f"{asset} has no {version_label(number)}")
    return int(found)


def _rows(conn: Connection, table: Any, asset: str, number: int | None) -> list[Remark]:
    query = (select(table, version_t.c.number)
             .join(version_t, version_t.c.id == table.c.version_id)
             .join(asset_t, asset_t.c.id == version_t.c.asset_id)
             .where(asset_t.c.name == asset).order_by(table.c.id))
    if number is not None:
        query = query.where(version_t.c.number == number)
    out = []
    for r in conn.execute(query):
        if table is note_t:
            out.append(Remark(asset, version_label(r.number), "note", r.by, r.created_at, r.text))
        else:
            out.append(Remark(asset, version_label(r.number), "review", r.by, r.created_at,
                              r.note, r.from_state, r.to_state))
    return out
