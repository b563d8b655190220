"""SQLite, the embedded default: `BEGIN IMMEDIATE` serialises writers, so a transaction
of plain statements does what PostgreSQL needs row locks and CTEs for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from axiomd import events
from axiomd.catalog import statements as sql
from axiomd.catalog.backends import Backend, Take
from axiomd.catalog.db import transaction
from axiomd.catalog.models import asset_t, job_t, version_t
from axiomd.lifecycle import VersionState
from axiomd.messages import ROUTING_PREFIX

_TAKE = {
    Take.NEXT: text(sql.TAKE.format(where=sql.NEXT.format(claimable=sql.CLAIMABLE, lock=""))),
    Take.BY_ID: text(sql.TAKE.format(where=sql.BY_ID)),
    Take.FROM_DEAD: text(sql.TAKE.format(where=sql.FROM_DEAD)),
}
_TAKE = {which: statement.bindparams(*sql.STAMPS) for which, statement in _TAKE.items()}
_VERSION_STARTED = text(
    f"UPDATE version SET status = {sql.STARTED} "
    "WHERE id = :id RETURNING store_path, checksum, number, original_name, ingest_token, "
    "(SELECT name FROM asset WHERE asset.id = version.asset_id) AS asset, "
    "(SELECT identity FROM asset WHERE asset.id = version.asset_id) AS identity"
).columns(identity=asset_t.c.identity.type)
_DONE = text(sql.DONE_SQL).bindparams(bindparam("outputs", type_=job_t.c.outputs.type),
                                      bindparam("now", type_=job_t.c.finished_at.type))
_FINISHED = text(f"UPDATE version SET {sql.FINISH_SQL}, {sql.FINISH_REVIEW_SQL} WHERE id = :id "
                 "RETURNING status, review, submitted_by, note").bindparams(
    bindparam("now", type_=version_t.c.completed_at.type))
_LOCK_VERSION = text("SELECT media FROM version WHERE id = :id").columns(version_t.c.media)


class SQLiteBackend(Backend):
    def insert_version(self, conn: Connection, params: Mapping[str, Any], jobs: int,
                       with_outbox: bool, created: Mapping[str, Any]) -> int:
        version_id = int(conn.execute(sql.INSERT_VERSION, params).scalar_one())
        if jobs:
            conn.execute(sql.insert_jobs(jobs), {**params, "version_id": version_id})
            if with_outbox:
                conn.execute(sql.ENQUEUE_VERSION, {"prefix": ROUTING_PREFIX, "delay": 0.0,
                                                   "now": params["now"],
                                                   "version_id": version_id})
        self.insert_event(conn, {"name": events.CREATED, "version_id": version_id,
                                 "payload": dict(created), "now": params["now"]}, with_outbox)
        return version_id

    def take_job(self, engine: Engine, params: Mapping[str, Any],
                 which: Take) -> Mapping[str, Any] | None:
        def work(conn: Connection) -> Mapping[str, Any] | None:
            job = conn.execute(_TAKE[which], params).first()
            if job is None:
                return None
            version = conn.execute(_VERSION_STARTED, {"id": job.version_id}).one()
            return {**job._mapping, **version._mapping}

        return transaction(engine, work)

    def complete_job(self, engine: Engine, params: Mapping[str, Any],
                     media: Mapping[str, Any] | None, with_outbox: bool = False) -> str | None:
        def work(conn: Connection) -> str | None:
            done = conn.execute(_DONE, params).first()
            if done is None:
                return None
            version = conn.execute(_FINISHED, {"id": done.version_id,
                                               "now": params["now"]}).one()
            if version.status == VersionState.COMPLETE:
                self.insert_event(conn, {
                    "name": "version.complete", "version_id": done.version_id,
                    "now": params["now"], "payload": {
                        "status": version.status, "review": version.review,
                        "by": version.submitted_by, "note": version.note}}, with_outbox)
            if media is not None:
                known = self.lock_version(conn, done.version_id)
                conn.execute(sql.update_version(("media",)),
                             {"media": {**(known or {}), **media}, "id": done.version_id})
            return str(version.status)

        return transaction(engine, work)

    def lock_version(self, conn: Connection, version_id: int) -> dict[str, Any] | None:
        return conn.execute(_LOCK_VERSION, {"id": version_id}).scalar()

    def insert_event(self, conn: Connection, params: Mapping[str, Any],
                     with_outbox: bool) -> int:
        event_id = int(conn.execute(sql.INSERT_EVENT, params).scalar_one())
        if with_outbox:
            conn.execute(sql.INSERT_EVENT_OUTBOX, {**params, "event_id": event_id})
        return event_id


BACKEND = SQLiteBackend()
