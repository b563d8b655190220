"""Jobs in the catalog: claiming with a lease, finishing, failing, retrying.

A claim takes a lease (`lease_owner`, `lease_expires_at`) that the worker renews while
it works. A lease that runs out means the worker died: the job can be claimed again.
Finishing a job and deciding its version's status happen in one transaction: a finished
job counts its version's `jobs_left` down in the UPDATE that sets the status, and a
failed or retried one re-reads its siblings' states under the version's row lock. Either
way two jobs of one version ending at once cannot both miss "all done".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from axiomd import events
from axiomd.catalog import statements as sql
from axiomd.catalog.backends import Take, backend_for
from axiomd.catalog.db import transaction
from axiomd.catalog.events import record_event
from axiomd.catalog.models import asset_t, job_t, utcnow, version_t
from axiomd.catalog.outbox import enqueue
from axiomd.lifecycle import JobState, VersionState, after_failure, version_status
from axiomd.timestamps import iso_z
from axiomd.versioning import version_label


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds the lease for, with what it needs to do the work."""

    id: int
    version_id: int
    preset: str
    kind: str
    attempts: int
    store_path: str
    checksum: str
    asset: str
    version_number: int
    original_name: str
    identity: Mapping[str, str]
    ingest_token: str | None = None

    @property
    def version_label(self) -> str:
        return version_label(self.version_number)


@dataclass(frozen=True)
class JobInfo:
    id: int
    asset: str
    version: str
    preset: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    outputs: Any
    created_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.id, "asset": self.asset, "version": self.version, "preset": self.preset,
            "kind": self.kind, "status": self.status, "attempts": self.attempts,
            "error": self.last_error, "outputs": self.outputs,
            "created_at": iso_z(self.created_at),
            "finished_at": iso_z(self.finished_at),
        }


def claim_next(engine: Engine, owner: str, lease_seconds: float) -> ClaimedJob | None:
    """Embedded mode: take the oldest claimable job (SKIP LOCKED on PostgreSQL)."""
    return _take(engine, Take.NEXT, {}, owner, lease_seconds)


def claim(engine: Engine, job_id: int, owner: str, lease_seconds: float) -> ClaimedJob | None:
    """Broker mode: take the job a message named, unless it is done, failed or leased."""
    return _take(engine, Take.BY_ID, {"id": job_id}, owner, lease_seconds)


def take_over(engine: Engine, job_id: int, dead: str, owner: str,
              lease_seconds: float) -> ClaimedJob | None:
    """Take a running job from `dead`, a holder known to be gone, before its lease ends."""
    return _take(engine, Take.FROM_DEAD, {"id": job_id, "dead": dead}, owner, lease_seconds)


def holder(engine: Engine, job_id: int) -> tuple[str, str | None] | None:
    """(status, lease owner) of a job, or None if there is no such job."""
    with engine.connect() as conn:
        row = conn.execute(select(job_t.c.status, job_t.c.lease_owner)
                           .where(job_t.c.id == job_id)).first()
    return None if row is None else (row.status, row.lease_owner)


def _take(engine: Engine, which: Take, params: dict[str, Any], owner: str,
          lease_seconds: float) -> ClaimedJob | None:
    now = utcnow()
    row = backend_for(engine).take_job(
        engine, {**params, "owner": owner, "now": now,
                 "expires": now + timedelta(seconds=lease_seconds)}, which)
    if row is None:
        return None
    return ClaimedJob(
        id=row["id"], version_id=row["version_id"], preset=row["preset"], kind=row["kind"],
        attempts=row["attempts"], store_path=row["store_path"], checksum=row["checksum"],
        asset=row["asset"], version_number=row["number"],
        original_name=row["original_name"], identity=row["identity"] or {},
        ingest_token=row["ingest_token"],
    )


def renew_lease(engine: Engine, job_id: int, owner: str, lease_seconds: float) -> bool:
    """Extend the lease; False means this worker no longer holds the job."""
    with engine.begin() as conn:
        result = conn.execute(
            update(job_t)
            .where(job_t.c.id == job_id, job_t.c.status == JobState.RUNNING, job_t.c.lease_owner == owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def complete(engine: Engine, job_id: int, owner: str, outputs: dict[str, Any] | None = None,
             media: dict[str, Any] | None = None, with_outbox: bool = False) -> bool:
    """Record the job's result and settle its version, atomically.

    Returns False (and changes nothing) when the job is not ours to finish: already done by
    a redelivered copy, or its lease was lost to another worker.
    """
    params = {"id": job_id, "owner": owner, "outputs": outputs, "now": utcnow()}
    return backend_for(engine).complete_job(engine, params, media, with_outbox)


def fail(engine: Engine, job_id: int, owner: str, error: str, *, max_attempts: int,
         retry_delays: Sequence[float], retryable: bool, with_outbox: bool) -> bool:
    """Record a failed attempt: back to the queue after a delay, or failed for good.

    Returns True when the job will be retried.
    """

    def work(conn: Connection) -> bool:
        now = utcnow()
        row = conn.execute(
            select(job_t).where(job_t.c.id == job_id, job_t.c.status == JobState.RUNNING,
                                job_t.c.lease_owner == owner).with_for_update()
        ).first()
        if row is None:
            return False
        decision = after_failure(row.attempts, max_attempts, retry_delays, retryable)
        if decision.retry:
            _back_to_queue(conn, job_id, now, decision.delay_seconds, error, with_outbox)
            return True
        conn.execute(update(job_t).where(job_t.c.id == job_id).values(
            status=JobState.FAILED, last_error=error, finished_at=now, lease_owner=None,
            lease_expires_at=None))
        reason = f"job {job_id} ({row.preset}) failed: {error}"
        before = _settle_version(conn, row.version_id, now, error=reason)
        if before.status != VersionState.FAILED:
            record_event(conn, events.FAILED, row.version_id, events.moment(
                VersionState.FAILED, before.review, before.submitted_by, before.note,
                error=reason), with_outbox=with_outbox, now=now)
        return False

    return transaction(engine, work)


def postpone(engine: Engine, job_id: int, owner: str, reason: str, *, recheck: float) -> bool:
    """Park a job whose source is not in the store yet, without counting the attempt.

    It waits without a message: whoever publishes the source releases it
    (`release_waiting`); if nobody has after `recheck` seconds, it is looked at again.
    """
    with engine.begin() as conn:
        return conn.execute(
            update(job_t)
            .where(job_t.c.id == job_id, job_t.c.status == JobState.RUNNING,
                   job_t.c.lease_owner == owner)
            .values(status=JobState.WAITING, attempts=job_t.c.attempts - 1, last_error=reason,
                    available_at=utcnow() + timedelta(seconds=recheck), lease_owner=None,
                    lease_expires_at=None)
        ).rowcount == 1


def release_waiting(engine: Engine, version_id: int, with_outbox: bool) -> int:
    """The version's source is in the store now: its waiting jobs go back in the queue."""

    def work(conn: Connection) -> int:
        now = utcnow()
        ids = list(conn.execute(
            update(job_t).where(job_t.c.version_id == version_id,
                                job_t.c.status == JobState.WAITING)
            .values(status=JobState.QUEUED, available_at=now, last_error=None)
            .returning(job_t.c.id)).scalars())
        if ids and with_outbox:
            enqueue(conn, now, job_ids=ids)
        return len(ids)

    return transaction(engine, work)


def _back_to_queue(conn: Connection, job_id: int, now: datetime, delay: float, error: str,
                   with_outbox: bool) -> None:
    conn.execute(update(job_t).where(job_t.c.id == job_id).values(
        status=JobState.QUEUED, available_at=now + timedelta(seconds=delay), last_error=error,
        lease_owner=None, lease_expires_at=None))
    if with_outbox:
        enqueue(conn, now, job_ids=[job_id], delay=delay)


def release(engine: Engine, job_id: int, owner: str) -> bool:
    """Give a job back untouched (shutdown before it finished): it does not count as an attempt."""
    with engine.begin() as conn:
        return conn.execute(
            update(job_t)
            .where(job_t.c.id == job_id, job_t.c.status == JobState.RUNNING, job_t.c.lease_owner == owner)
            .values(status=JobState.QUEUED, attempts=job_t.c.attempts - 1, lease_owner=None,
                    lease_expires_at=None, available_at=utcnow())
        ).rowcount == 1


def _settle_version(conn: Connection, version_id: int, now: datetime,
                    error: str | None = None) -> Any:
    """Lock the version, then set its status from all of its jobs.

    The states are read in a statement after the lock is held, so two jobs of one version
    settling at once cannot both miss how the other ended.
    """
    backend_for(conn).lock_version(conn, version_id)
    before = conn.execute(_VERSION_BEFORE, {"id": version_id}).one()
    status = version_status(conn.execute(sql.JOB_STATES, {"id": version_id}).scalars())
    values: dict[str, Any] = {"status": str(status)}
    if status in (VersionState.COMPLETE, VersionState.FAILED):
        values["completed_at"] = now
    if error:
        values["error"] = error
    conn.execute(sql.update_version(tuple(values)), {**values, "id": version_id})
    return before


# Read under the version's row lock: how it stood before this settling (for its event).
_VERSION_BEFORE = text("SELECT status, review, submitted_by, note FROM version WHERE id = :id")


def requeue_expired(engine: Engine, with_outbox: bool) -> int:
    """Broker mode: re-publish jobs whose worker died holding the lease (it was acked early),
    and waiting jobs due for a re-check that nobody released."""

    def work(conn: Connection) -> int:
        now = utcnow()
        ids = list(conn.execute(
            select(job_t.c.id).where(or_(
                and_(job_t.c.status == JobState.RUNNING, job_t.c.lease_expires_at < now),
                and_(job_t.c.status == JobState.WAITING, job_t.c.available_at <= now)))
            .with_for_update(skip_locked=True)
        ).scalars())
        if ids:
            conn.execute(update(job_t).where(job_t.c.id.in_(ids)).values(
                status=JobState.QUEUED, lease_owner=None, lease_expires_at=None, available_at=now))
            if with_outbox:
                enqueue(conn, now, job_ids=ids)
        return len(ids)

    return transaction(engine, work)


def retry_failed(engine: Engine, job_ids: Sequence[int] | None, with_outbox: bool) -> list[int]:
    """Put failed jobs back in the queue with fresh attempts; their versions reopen."""

    def work(conn: Connection) -> list[int]:
        now = utcnow()
        query = select(job_t.c.id, job_t.c.version_id).where(job_t.c.status == JobState.FAILED)
        if job_ids is not None:
            query = query.where(job_t.c.id.in_(job_ids))
        rows = conn.execute(query.with_for_update()).all()
        ids = [r.id for r in rows]
        if not ids:
            return []
        conn.execute(update(job_t).where(job_t.c.id.in_(ids)).values(
            status=JobState.QUEUED, attempts=0, available_at=now, finished_at=None))
        for version_id in {r.version_id for r in rows}:
            conn.execute(update(version_t).where(version_t.c.id == version_id)
                         .values(error=None, completed_at=None))
            _settle_version(conn, version_id, now)
        if with_outbox:
            enqueue(conn, now, job_ids=ids)
        return ids

    return transaction(engine, work)


def list_jobs(engine: Engine, status: str | None = None, limit: int = 500) -> list[JobInfo]:
    query = (
        select(job_t, version_t.c.number, asset_t.c.name.label("asset"))
        .join(version_t, version_t.c.id == job_t.c.version_id)
        .join(asset_t, asset_t.c.id == version_t.c.asset_id)
        .order_by(job_t.c.id.desc()).limit(limit)
    )
    if status:
        query = query.where(job_t.c.status == status)
    with engine.connect() as conn:
        return [
            JobInfo(r.id, r.asset, version_label(r.number), r.preset, r.kind, r.status,
                    r.attempts, r.last_error, r.outputs, r.created_at, r.finished_at)
            for r in conn.execute(query)
        ]


def job_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(job_t.c.status, func.count()).group_by(job_t.c.status))
        counts = {str(state): 0 for state in JobState}
        counts.update({status: n for status, n in rows})
        return counts


def outputs_of(engine: Engine, version_id: int) -> dict[str, Any]:
    """What a version's finished jobs made (proxy, thumbnail…), by preset."""
    with engine.connect() as conn:
        rows = conn.execute(select(job_t.c.preset, job_t.c.outputs).where(
            job_t.c.version_id == version_id, job_t.c.status == JobState.DONE,
            job_t.c.outputs.is_not(None)).order_by(job_t.c.id))
        return {row.preset: row.outputs for row in rows if row.outputs}
