"""What the HTTP API and the review page read: filtered, paged versions; a version's
jobs and outputs; the show → sequence → shot tree; the figures behind `/metrics`.

Versions page newest first by id with a keyset cursor (the last id seen), so page 500
of 100,000 versions costs what page 1 does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, literal_column, select
from sqlalchemy.engine import Engine

from axiomd import events
from axiomd.catalog.jobs import JobInfo
from axiomd.catalog.models import asset_t, job_t, outbox_t, version_t
from axiomd.catalog.versions import VersionInfo, _info_query, _to_info
from axiomd.lifecycle import JobState

MAX_PAGE = 500
DURATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class VersionFilter:
    asset: str | None = None
    identity: Mapping[str, str] | None = None  # e.g. {"show": "TST", "shot": "SH0010"}
    status: str | None = None
    review: str | None = None


def versions_page(engine: Engine, where: VersionFilter, limit: int = 100,
                  after_id: int | None = None) -> tuple[list[VersionInfo], int | None]:
    """One page of versions, newest first, and the cursor of the next page (None: last)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = _info_query().where(version_t.c.number.is_not(None))
    if where.asset or where.identity:
        # The assets first, as a list of ids: the planner then knows how few versions
        # can match, instead of walking every version newest first looking for them.
        assets = select(asset_t.c.id)
        if where.asset:
            assets = assets.where(asset_t.c.name == where.asset)
        for key, value in (where.identity or {}).items():
            assets = assets.where(asset_t.c.identity[key].as_string() == value)
        with engine.connect() as conn:
            ids = list(conn.execute(assets).scalars())
        if not ids:
            return [], None
        query = query.where(version_t.c.asset_id.in_(ids))
    if where.status:
        query = query.where(version_t.c.status == where.status)
    if where.review:
        query = query.where(version_t.c.review == where.review)
    if after_id is not None:
        query = query.where(version_t.c.id < after_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(version_t.c.id.desc()).limit(limit + 1)).all()
    versions = [_to_info(r) for r in rows[:limit]]
    return versions, (versions[-1].id if len(rows) > limit else None)


def outputs_of(engine: Engine, version_ids: Iterable[int]) -> dict[int, dict[str, str | None]]:
    """Store paths of each version's proxy and thumbnail (None until its job is done)."""
    ids = list(version_ids)
    if not ids:
        return {}
    found: dict[int, list[tuple[str, Any]]] = {i: [] for i in ids}
    with engine.connect() as conn:
        for row in conn.execute(
                select(job_t.c.version_id, job_t.c.kind, job_t.c.outputs)
                .where(job_t.c.version_id.in_(ids), job_t.c.status == JobState.DONE,
                       job_t.c.kind.in_(events.OUTPUT_KINDS))
                .order_by(job_t.c.id)):
            found[row.version_id].append((row.kind, row.outputs))
    return {vid: events.outputs_of(jobs) for vid, jobs in found.items()}


def jobs_of(engine: Engine, version: VersionInfo) -> list[JobInfo]:
    with engine.connect() as conn:
        return [JobInfo(r.id, version.asset, version.label, r.preset, r.kind, r.status,
                        r.attempts, r.last_error, r.outputs, r.created_at, r.finished_at)
                for r in conn.execute(select(job_t).where(job_t.c.version_id == version.id)
                                      .order_by(job_t.c.id))]


def tree_level(assets: Sequence[Mapping[str, str]], path: Sequence[str]) -> list[str]:
    """The distinct values one level below `path` in the assets' identities (pure):
    shows for `[]`, sequences for `["TST"]`, shots for `["TST", "SQ010"]`."""
    depth = len(path)
    values = {tuple(identity.values())[depth] for identity in assets
              if len(identity) > depth and tuple(identity.values())[:depth] == tuple(path)}
    return sorted(values)


@dataclass(frozen=True)
class Figures:
    """The catalog's side of `/metrics`."""

    jobs: dict[tuple[str, str], int]  # (status, kind) → count
    queued: dict[str, int]  # kind → jobs waiting (the embedded queue's depth)
    versions: dict[str, int]
    outbox_backlog: int
    outbox_oldest: datetime | None
    durations: dict[str, tuple[list[int], int, float]]  # kind → (bucket counts, count, sum)


def figures(engine: Engine, now: datetime) -> Figures:
    with engine.connect() as conn:
        jobs = {(s, k): n for s, k, n in conn.execute(
            select(job_t.c.status, job_t.c.kind, func.count())
            .group_by(job_t.c.status, job_t.c.kind))}
        queued = {k: n for k, n in conn.execute(
            select(job_t.c.kind, func.count()).where(
                job_t.c.status == JobState.QUEUED, job_t.c.available_at <= now)
            .group_by(job_t.c.kind))}
        versions = {s: n for s, n in conn.execute(
            select(version_t.c.status, func.count()).group_by(version_t.c.status))}
        backlog, oldest = conn.execute(
            select(func.count(), func.min(outbox_t.c.created_at))
            .where(outbox_t.c.sent_at.is_(None))).one()
        seconds = _seconds(conn.dialect.name)
        columns = [func.sum(case((seconds <= b, 1), else_=0)) for b in DURATION_BUCKETS]
        durations = {}
        for row in conn.execute(
                select(job_t.c.kind, func.count(), func.coalesce(func.sum(seconds), 0.0), *columns)
                .where(job_t.c.status == JobState.DONE, job_t.c.started_at.is_not(None),
                       job_t.c.finished_at.is_not(None))
                .group_by(job_t.c.kind)):
            kind, count, total, *buckets = row
            durations[kind] = ([int(b or 0) for b in buckets], int(count), float(total))
    return Figures(jobs, queued, versions, int(backlog), oldest, durations)


def _seconds(dialect: str) -> Any:
    """A done job's run time in seconds, as SQL."""
    if dialect == "sqlite":
        return cast((func.julianday(job_t.c.finished_at) - func.julianday(job_t.c.started_at))
                    * literal_column("86400.0"), Float)
    return func.extract("epoch", job_t.c.finished_at - job_t.c.started_at)


