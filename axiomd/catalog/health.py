"""The catalog's figures behind `axiomd status`: counts and ages, read in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from axiomd.catalog import heartbeats
from axiomd.catalog.heartbeats import Heartbeat
from axiomd.catalog.models import job_t, outbox_t, version_t

JOB_STATES = ("queued", "running", "done", "failed")
VERSION_STATES = ("pending", "processing", "complete", "failed")


@dataclass(frozen=True)
class CatalogFigures:
    jobs: dict[str, int]
    versions: dict[str, int]
    outbox_backlog: int
    outbox_oldest: datetime | None
    failed_last_hour: int
    heartbeats: list[Heartbeat]


def figures(engine: Engine, now: datetime, heartbeat_expire_seconds: float) -> CatalogFigures:
    """Jobs and versions by state, the unsent outbox, recent failures, live heartbeats.

    Heartbeats older than `heartbeat_expire_seconds` are pruned first: their process is
    gone for good (a host retired without a clean stop) and must not keep status red.
    """
    heartbeats.expire(engine, now - timedelta(seconds=heartbeat_expire_seconds))
    with engine.connect() as conn:
        jobs = dict.fromkeys(JOB_STATES, 0)
        jobs.update((state, n) for state, n in conn.execute(
            select(job_t.c.status, func.count()).group_by(job_t.c.status)))
        versions = dict.fromkeys(VERSION_STATES, 0)
        versions.update((state, n) for state, n in conn.execute(
            select(version_t.c.status, func.count()).group_by(version_t.c.status)))
        backlog, oldest = conn.execute(
            select(func.count(), func.min(outbox_t.c.created_at)).where(outbox_t.c.sent_at.is_(None))
        ).one()
        failed = conn.execute(
            select(func.count()).select_from(job_t).where(
                job_t.c.status == "failed", job_t.c.finished_at >= now - timedelta(hours=1))
        ).scalar_one()
    return CatalogFigures(jobs=jobs, versions=versions, outbox_backlog=backlog,
                          outbox_oldest=oldest, failed_last_hour=failed,
                          heartbeats=heartbeats.recent(engine, now - timedelta(
                              seconds=heartbeat_expire_seconds)))
