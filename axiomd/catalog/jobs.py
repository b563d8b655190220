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
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import TextClause

from axiomd.catalog import prepared
from axiomd.catalog.db import is_postgres, transaction
from axiomd.catalog.models import asset_t, job_t, utcnow, version_t
from axiomd.catalog.prepared import Prepared
from axiomd.lifecycle import after_failure, version_status
from axiomd.messages import ROUTING_PREFIX
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
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


_STAMPS = tuple(bindparam(name, type_=job_t.c.started_at.type) for name in ("now", "expires"))
_TAKE = (
    "UPDATE job SET status = 'running', lease_owner = :owner, lease_expires_at = :expires, "
    "attempts = attempts + 1, started_at = :now WHERE {where} "
    "RETURNING id, version_id, preset, kind, attempts"
)
_CLAIMABLE = ("(status = 'queued' AND available_at <= :now) "
              "OR (status = 'running' AND lease_expires_at < :now)")
_NEXT = "id = (SELECT id FROM job WHERE {claimable} ORDER BY id LIMIT 1 {lock})"
_TAKE_NEXT = {
    lock: text(_TAKE.format(where=_NEXT.format(claimable=_CLAIMABLE, lock=lock)))
    .bindparams(*_STAMPS)
    for lock in ("FOR UPDATE SKIP LOCKED", "")
}
# A message is the trigger in broker mode: a queued job is due even if its retry delay
# has not quite run out by this host's clock.
_TAKE_BY_ID = text(_TAKE.format(
    where="id = :id AND (status = 'queued' OR (status = 'running' AND lease_expires_at < :now))"
)).bindparams(*_STAMPS)
_STARTED = "CASE WHEN status = 'pending' THEN 'processing' ELSE status END"
_VERSION_STARTED = text(
    f"UPDATE version SET status = {_STARTED} "
    "WHERE id = :id RETURNING store_path, checksum, number, original_name, ingest_token, "
    "(SELECT name FROM asset WHERE asset.id = version.asset_id) AS asset, "
    "(SELECT identity FROM asset WHERE asset.id = version.asset_id) AS identity"
).columns(identity=asset_t.c.identity.type)


def _take_and_start(take: str) -> str:
    """PostgreSQL: take the job and mark its version started in one statement."""
    return (
        f"WITH j AS ({take}), v AS (UPDATE version SET status = {_STARTED} FROM j "
        "WHERE version.id = j.version_id RETURNING version.id, store_path, checksum, number, "
        "original_name, ingest_token, asset_id) "
        "SELECT j.id, j.version_id, j.preset, j.kind, j.attempts, v.store_path, v.checksum, "
        "v.number, v.original_name, v.ingest_token, a.name AS asset, a.identity "
        "FROM j JOIN v ON v.id = j.version_id JOIN asset a ON a.id = v.asset_id"
    )


_PG_TAKE_NEXT = Prepared("axiomd_take_next",
                         _take_and_start(_TAKE_NEXT["FOR UPDATE SKIP LOCKED"].text))
_PG_TAKE_BY_ID = Prepared("axiomd_take_by_id", _take_and_start(_TAKE_BY_ID.text))


def claim_next(engine: Engine, owner: str, lease_seconds: float) -> ClaimedJob | None:
    """Embedded mode: take the oldest claimable job (SKIP LOCKED on PostgreSQL)."""
    return _take(engine, _PG_TAKE_NEXT, _TAKE_NEXT[""], {}, owner, lease_seconds)


def claim(engine: Engine, job_id: int, owner: str, lease_seconds: float) -> ClaimedJob | None:
    """Broker mode: take the job a message named, unless it is done, failed or leased."""
    return _take(engine, _PG_TAKE_BY_ID, _TAKE_BY_ID, {"id": job_id}, owner, lease_seconds)


def _take(engine: Engine, on_postgres: Prepared, on_sqlite: TextClause, params: dict[str, Any],
          owner: str, lease_seconds: float) -> ClaimedJob | None:
    """On PostgreSQL one prepared statement takes the job and starts its version; SQLite
    needs two in a transaction."""
    now = utcnow()
    params = {**params, "owner": owner, "now": now,
              "expires": now + timedelta(seconds=lease_seconds)}
    if is_postgres(engine):
        return _claimed(prepared.run(engine, on_postgres, params))

    def work(conn: Connection) -> ClaimedJob | None:
        job = conn.execute(on_sqlite, params).first()
        if job is None:
            return None
        return _claimed(job, conn.execute(_VERSION_STARTED, {"id": job.version_id}).one())

    return transaction(engine, work)


def _claimed(job: Any, version: Any = None) -> ClaimedJob | None:
    if job is None:
        return None
    version = version or job
    return ClaimedJob(
        id=job.id, version_id=job.version_id, preset=job.preset, kind=job.kind,
        attempts=job.attempts, store_path=version.store_path, checksum=version.checksum,
        asset=version.asset, version_number=version.number,
        original_name=version.original_name, identity=version.identity or {},
        ingest_token=version.ingest_token,
    )


def renew_lease(engine: Engine, job_id: int, owner: str, lease_seconds: float) -> bool:
    """Extend the lease; False means this worker no longer holds the job."""
    with engine.begin() as conn:
        result = conn.execute(
            update(job_t)
            .where(job_t.c.id == job_id, job_t.c.status == "running", job_t.c.lease_owner == owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def complete(engine: Engine, job_id: int, owner: str, outputs: dict[str, Any] | None = None,
             media: dict[str, Any] | None = None) -> bool:
    """Record the job's result and settle its version, atomically.

    Returns False (and changes nothing) when the job is not ours to finish: already done by
    a redelivered copy, or its lease was lost to another worker.
    """
    now = utcnow()
    params = {"id": job_id, "owner": owner, "outputs": outputs, "now": now}
    if is_postgres(engine):
        return prepared.run(engine, _PG_COMPLETE, {**params, "media": media}) is not None

    def work(conn: Connection) -> bool:
        done = conn.execute(_DONE, params).first()
        if done is None:
            return False
        conn.execute(_FINISHED, {"id": done.version_id, "now": now})
        if media is not None:
            known = _lock_version(conn, done.version_id)
            conn.execute(_update_version(("media",)),
                         {"media": {**(known or {}), **media}, "id": done.version_id})
        return True

    return transaction(engine, work)


_DONE_SQL = (
    "UPDATE job SET status = 'done', outputs = :outputs, finished_at = :now, lease_owner = NULL, "
    "lease_expires_at = NULL, last_error = NULL "
    "WHERE id = :id AND status = 'running' AND lease_owner = :owner RETURNING version_id"
)
_DONE = text(_DONE_SQL).bindparams(bindparam("outputs", type_=job_t.c.outputs.type),
                                   bindparam("now", type_=job_t.c.finished_at.type))
# The version's counter is read and written by one UPDATE, which waits for the row lock
# and then sees the latest committed count: two last jobs finishing at once cannot both
# miss that they were the last.
_FINISH_SQL = (
    "jobs_left = jobs_left - 1, "
    "status = CASE WHEN jobs_left = 1 THEN 'complete' ELSE status END, "
    "completed_at = CASE WHEN jobs_left = 1 THEN :now ELSE completed_at END"
)
_FINISHED = text(f"UPDATE version SET {_FINISH_SQL} WHERE id = :id").bindparams(
    bindparam("now", type_=version_t.c.completed_at.type))
# A version without media holds JSON null (not SQL NULL), which jsonb's || would turn
# into an array; so anything but an object counts as empty.
_MERGE_MEDIA = (
    "CASE WHEN CAST(:media AS jsonb) IS NULL THEN media ELSE CAST(CASE WHEN "
    "jsonb_typeof(CAST(media AS jsonb)) = 'object' THEN CAST(media AS jsonb) ELSE '{}' END "
    "|| CAST(:media AS jsonb) AS json) END"
)
# PostgreSQL: finish the job and settle its version in one statement, job row locked first.
_PG_COMPLETE = Prepared(
    "axiomd_complete",
    f"WITH d AS ({_DONE_SQL}) UPDATE version SET {_FINISH_SQL}, media = {_MERGE_MEDIA} "
    "FROM d WHERE version.id = d.version_id RETURNING version.id",
)


def fail(engine: Engine, job_id: int, owner: str, error: str, *, max_attempts: int,
         retry_delays: Sequence[float], retryable: bool, with_outbox: bool) -> bool:
    """Record a failed attempt: back to the queue after a delay, or failed for good.

    Returns True when the job will be retried.
    """

    def work(conn: Connection) -> bool:
        now = utcnow()
        row = conn.execute(
            select(job_t).where(job_t.c.id == job_id, job_t.c.status == "running",
                                job_t.c.lease_owner == owner).with_for_update()
        ).first()
        if row is None:
            return False
        decision = after_failure(row.attempts, max_attempts, retry_delays, retryable)
        if decision.retry:
            _back_to_queue(conn, job_id, now, decision.delay_seconds, error, with_outbox)
            return True
        conn.execute(update(job_t).where(job_t.c.id == job_id).values(
            status="failed", last_error=error, finished_at=now, lease_owner=None,
            lease_expires_at=None))
        _settle_version(conn, row.version_id, now,
                        error=f"job {job_id} ({row.preset}) failed: {error}")
        return False

    return transaction(engine, work)


def postpone(engine: Engine, job_id: int, owner: str, reason: str, *, delay: float,
             with_outbox: bool) -> bool:
    """Put a job back for later without counting the attempt: what it needs is not there yet."""

    def work(conn: Connection) -> bool:
        now = utcnow()
        held = conn.execute(
            update(job_t)
            .where(job_t.c.id == job_id, job_t.c.status == "running", job_t.c.lease_owner == owner)
            .values(attempts=job_t.c.attempts - 1)
        ).rowcount == 1
        if held:
            _back_to_queue(conn, job_id, now, delay, reason, with_outbox)
        return held

    return transaction(engine, work)


def _back_to_queue(conn: Connection, job_id: int, now: datetime, delay: float, error: str,
                   with_outbox: bool) -> None:
    conn.execute(update(job_t).where(job_t.c.id == job_id).values(
        status="queued", available_at=now + timedelta(seconds=delay), last_error=error,
        lease_owner=None, lease_expires_at=None))
    if with_outbox:
        enqueue(conn, now, job_ids=[job_id], delay=delay)


def release(engine: Engine, job_id: int, owner: str) -> bool:
    """Give a job back untouched (shutdown before it finished): it does not count as an attempt."""
    with engine.begin() as conn:
        return conn.execute(
            update(job_t)
            .where(job_t.c.id == job_id, job_t.c.status == "running", job_t.c.lease_owner == owner)
            .values(status="queued", attempts=job_t.c.attempts - 1, lease_owner=None,
                    lease_expires_at=None, available_at=utcnow())
        ).rowcount == 1


_LOCK_VERSION = {
    locking: text(f"SELECT media FROM version WHERE id = :id {locking}").columns(
        version_t.c.media)
    for locking in ("FOR UPDATE", "")
}
_JOB_STATES = text("SELECT status FROM job WHERE version_id = :id")


def _settle_version(conn: Connection, version_id: int, now: datetime,
                    error: str | None = None) -> None:
    """Lock the version, then set its status from all of its jobs.

    The states are read in a statement after the lock is held, so two jobs of one version
    settling at once cannot both miss how the other ended.
    """
    _lock_version(conn, version_id)
    status = version_status(conn.execute(_JOB_STATES, {"id": version_id}).scalars())
    values: dict[str, Any] = {"status": status}
    if status in ("complete", "failed"):
        values["completed_at"] = now
    if error:
        values["error"] = error
    conn.execute(_update_version(tuple(values)), {**values, "id": version_id})


def _lock_version(conn: Connection, version_id: int) -> dict[str, Any] | None:
    """Take the version's row lock; returns its media, for merging."""
    lock = _LOCK_VERSION["FOR UPDATE" if is_postgres(conn) else ""]
    return conn.execute(lock, {"id": version_id}).scalar()


@lru_cache(maxsize=16)
def _update_version(columns: tuple[str, ...]) -> TextClause:
    """`UPDATE version SET <columns>`, built once per column set (it is on the hot path)."""
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    return text(f"UPDATE version SET {assignments} WHERE id = :id").bindparams(
        *(bindparam(c, type_=version_t.c[c].type) for c in columns))


_ENQUEUE = (
    "INSERT INTO outbox (job_id, routing_key, delay_seconds, created_at) "
    "SELECT id, :prefix || kind, :delay, :now FROM job WHERE "
)
_ENQUEUE_VERSION = text(_ENQUEUE + "version_id = :version_id").bindparams(
    bindparam("now", type_=job_t.c.created_at.type))
_ENQUEUE_JOBS = text(_ENQUEUE + "id IN :ids").bindparams(
    bindparam("ids", expanding=True), bindparam("now", type_=job_t.c.created_at.type))


def enqueue(conn: Connection, now: datetime, *, version_id: int | None = None,
            job_ids: Sequence[int] = (), delay: float = 0.0) -> None:
    """Outbox rows for a version's jobs, or for the given jobs.

    The message body is built by the relay from the catalog when it publishes, so it
    always carries the job's current facts.
    """
    params = {"prefix": ROUTING_PREFIX, "delay": delay, "now": now}
    if version_id is not None:
        conn.execute(_ENQUEUE_VERSION, {**params, "version_id": version_id})
    elif job_ids:
        conn.execute(_ENQUEUE_JOBS, {**params, "ids": list(job_ids)})


def requeue_expired(engine: Engine, with_outbox: bool) -> int:
    """Broker mode: re-publish jobs whose worker died holding the lease (it was acked early)."""

    def work(conn: Connection) -> int:
        now = utcnow()
        ids = list(conn.execute(
            select(job_t.c.id).where(job_t.c.status == "running", job_t.c.lease_expires_at < now)
            .with_for_update(skip_locked=True)
        ).scalars())
        if ids:
            conn.execute(update(job_t).where(job_t.c.id.in_(ids)).values(
                status="queued", lease_owner=None, lease_expires_at=None, available_at=now))
            if with_outbox:
                enqueue(conn, now, job_ids=ids)
        return len(ids)

    return transaction(engine, work)


def retry_failed(engine: Engine, job_ids: Sequence[int] | None, with_outbox: bool) -> list[int]:
    """Put failed jobs back in the queue with fresh attempts; their versions reopen."""

    def work(conn: Connection) -> list[int]:
        now = utcnow()
        query = select(job_t.c.id, job_t.c.version_id).where(job_t.c.status == "failed")
        if job_ids is not None:
            query = query.where(job_t.c.id.in_(job_ids))
        rows = conn.execute(query.with_for_update()).all()
        ids = [r.id for r in rows]
        if not ids:
            return []
        conn.execute(update(job_t).where(job_t.c.id.in_(ids)).values(
            status="queued", attempts=0, available_at=now, finished_at=None))
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
        counts = {state: 0 for state in ("queued", "running", "done", "failed")}
        counts.update({status: n for status, n in rows})
        return counts


def outputs_of(engine: Engine, version_id: int) -> list[dict[str, Any]]:
    """The files a version's finished jobs made (proxy, thumbnail, …), each with its
    preset, kind and path relative to the store root; in job order."""
    query = (select(job_t.c.preset, job_t.c.kind, job_t.c.outputs)
             .where(job_t.c.version_id == version_id, job_t.c.status == "done")
             .order_by(job_t.c.id))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    made = []
    for row in rows:
        path = (row.outputs or {}).get(row.preset) if isinstance(row.outputs, dict) else None
        if isinstance(path, str):
            made.append({"preset": row.preset, "kind": row.kind, "store_path": path})
    return made
