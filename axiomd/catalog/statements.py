"""The catalog's hot-path SQL, as text both databases share.

They are hand-written because they run for every file and every job, where building
SQLAlchemy expressions cost more than the statements. Where PostgreSQL and SQLite need
different statements, `backends/` composes these fragments; nothing else differs.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, text
from sqlalchemy.sql.elements import TextClause

from axiomd.catalog.models import asset_t, job_t, version_t
from axiomd.lifecycle import JobState, VersionState

QUEUED, RUNNING, DONE, WAITING = (f"'{s}'" for s in (JobState.QUEUED, JobState.RUNNING,
                                                     JobState.DONE, JobState.WAITING))
PENDING, PROCESSING, COMPLETE = (f"'{s}'" for s in (VersionState.PENDING,
                                                    VersionState.PROCESSING,
                                                    VersionState.COMPLETE))

STAMPS = tuple(bindparam(name, type_=job_t.c.started_at.type) for name in ("now", "expires"))
NOW = bindparam("now", type_=version_t.c.created_at.type)
MEDIA = bindparam("media", type_=version_t.c.media.type)
PAYLOAD = bindparam("payload", type_=version_t.c.media.type)

# -- allocating a version ----------------------------------------------------------------

VERSION_COLUMNS = (
    "version (asset_id, number, status, jobs_left, store_path, original_name, checksum, "
    "size, submitted_by, origin_host, origin_path, ingest_token, media, created_at, note, task)"
)
# Every value but the asset's id, which comes first.
VERSION_VALUES = (
    f":number, {PENDING}, :jobs_left, :store_path, :original_name, :checksum, :size, "
    ":submitted_by, :origin_host, :origin_path, :ingest_token, :media, :now, :note, :task"
)
INSERT_VERSION_SQL = (
    f"INSERT INTO {VERSION_COLUMNS} VALUES (:asset_id, {VERSION_VALUES}) RETURNING id"
)
INSERT_VERSION = text(INSERT_VERSION_SQL).bindparams(NOW, MEDIA)
JOB_COLUMNS = "job (version_id, preset, kind, status, attempts, available_at, created_at)"
# The routing key is the job kind behind `messages.ROUTING_PREFIX`, passed as :prefix.
OUTBOX_COLUMNS = "outbox (job_id, routing_key, delay_seconds, created_at)"
# A new asset starts at 1: its first version is numbered in the same transaction.
CREATE_ASSET_SQL = (
    "INSERT INTO asset (name, naming, identity, latest_number, created_at) "
    "VALUES (:asset, :naming, :identity, 1, :now) ON CONFLICT (name) DO NOTHING RETURNING id"
)
CREATE_ASSET = text(CREATE_ASSET_SQL).bindparams(
    bindparam("identity", type_=asset_t.c.identity.type),
    bindparam("now", type_=asset_t.c.created_at.type))
BUMP = text(
    "UPDATE asset SET latest_number = latest_number + 1 WHERE id = :id RETURNING latest_number"
)
# A fresh statement after the lock wait, so under READ COMMITTED it sees what the
# transaction we waited for committed: the parent, and any version with this content.
NUMBER = text(
    "UPDATE version SET number = :number, store_path = :store_path, parent_id = "
    "(SELECT p.id FROM version p WHERE p.asset_id = :asset_id AND p.number = :parent_number) "
    "WHERE id = :id AND NOT (:check_duplicate AND EXISTS (SELECT 1 FROM version d "
    "WHERE d.asset_id = :asset_id AND d.checksum = :checksum AND d.number IS NOT NULL)) "
    "RETURNING parent_id"
)


@lru_cache(maxsize=16)
def insert_jobs(count: int) -> TextClause:
    """One statement for all of a version's jobs."""
    rows = ", ".join(f"(:version_id, :preset{i}, :kind{i}, {QUEUED}, 0, :now, :now)"
                     for i in range(count))
    return text(f"INSERT INTO {JOB_COLUMNS} VALUES {rows}").bindparams(NOW)


ENQUEUE = (f"INSERT INTO {OUTBOX_COLUMNS} "
           "SELECT id, :prefix || kind, :delay, :now FROM job WHERE ")
ENQUEUE_VERSION = text(ENQUEUE + "version_id = :version_id").bindparams(NOW)
ENQUEUE_JOBS = text(ENQUEUE + "id IN :ids").bindparams(bindparam("ids", expanding=True), NOW)

# -- claiming a job ----------------------------------------------------------------------

TAKE = (
    f"UPDATE job SET status = {RUNNING}, lease_owner = :owner, lease_expires_at = :expires, "
    "attempts = attempts + 1, started_at = :now WHERE {where} "
    "RETURNING id, version_id, preset, kind, attempts"
)
# A waiting job is claimable again when its re-check is due: in case whoever published
# its source died before releasing it.
CLAIMABLE = (f"(status IN ({QUEUED}, {WAITING}) AND available_at <= :now) "
             f"OR (status = {RUNNING} AND lease_expires_at < :now)")
NEXT = "id = (SELECT id FROM job WHERE {claimable} ORDER BY id LIMIT 1 {lock})"
# A message is the trigger in broker mode: a queued job is due even if its retry delay
# has not quite run out by this host's clock.
BY_ID = f"id = :id AND (status = {QUEUED} OR (status = {RUNNING} AND lease_expires_at < :now))"
# Taking over from a worker known to be dead: its lease may not have run out yet.
FROM_DEAD = f"id = :id AND status = {RUNNING} AND lease_owner = :dead"
STARTED = f"CASE WHEN status = {PENDING} THEN {PROCESSING} ELSE status END"

# -- finishing a job ---------------------------------------------------------------------

DONE_SQL = (
    f"UPDATE job SET status = {DONE}, outputs = :outputs, finished_at = :now, "
    "lease_owner = NULL, lease_expires_at = NULL, last_error = NULL "
    f"WHERE id = :id AND status = {RUNNING} AND lease_owner = :owner RETURNING version_id"
)
# The version's counter is read and written by one UPDATE, which waits for the row lock
# and then sees the latest committed count: two last jobs finishing at once cannot both
# miss that they were the last.
FINISH_SQL = (
    "jobs_left = jobs_left - 1, "
    f"status = CASE WHEN jobs_left = 1 THEN {COMPLETE} ELSE status END, "
    "completed_at = CASE WHEN jobs_left = 1 THEN :now ELSE completed_at END"
)
JOB_STATES = text("SELECT status FROM job WHERE version_id = :id")
# The last job done puts a fresh version up for review; a reopened one keeps its state.
FINISH_REVIEW_SQL = ("review = CASE WHEN jobs_left = 1 THEN COALESCE(review, 'pending_review') "
                     "ELSE review END")

# -- version events (catalog/events.py) ----------------------------------------------------

INSERT_EVENT_SQL = ("INSERT INTO event (name, version_id, payload, created_at) "
                    "VALUES (:name, :version_id, :payload, :now) RETURNING id")
INSERT_EVENT = text(INSERT_EVENT_SQL).bindparams(NOW, PAYLOAD)
# An event's outbox row is routed by the event's name on `<prefix>.events`.
EVENT_OUTBOX_COLUMNS = "outbox (event_id, routing_key, delay_seconds, created_at)"
INSERT_EVENT_OUTBOX = text(f"INSERT INTO {EVENT_OUTBOX_COLUMNS} "
                           "VALUES (:event_id, :name, 0, :now)").bindparams(NOW)


@lru_cache(maxsize=16)
def update_version(columns: tuple[str, ...]) -> TextClause:
    """`UPDATE version SET <columns>`, built once per column set."""
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    return text(f"UPDATE version SET {assignments} WHERE id = :id").bindparams(
        *(bindparam(c, type_=version_t.c[c].type) for c in columns))
