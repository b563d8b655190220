"""PostgreSQL, production: each hot path is one statement, one round trip.

Allocation writes the version, its jobs and their outbox rows in one CTE (a run of new
assets, all of theirs in one); a worker's claim and finish are single CTEs too. All are
prepared once per pooled session (`catalog/prepared.py`); claim and finish run in
autocommit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import TextClause

from axiomd import events
from axiomd.catalog import prepared
from axiomd.catalog import statements as sql
from axiomd.catalog.backends import Backend, FirstVersion, Take
from axiomd.catalog.db import LostRace
from axiomd.catalog.models import version_t
from axiomd.catalog.prepared import Prepared
from axiomd.messages import ROUTING_PREFIX


def _take_and_start(where: str) -> str:
    """Take the job and mark its version started in one statement."""
    return (
        f"WITH j AS ({sql.TAKE.format(where=where)}), v AS (UPDATE version SET status = "
        f"{sql.STARTED} FROM j WHERE version.id = j.version_id RETURNING version.id, "
        "store_path, checksum, number, original_name, ingest_token, asset_id) "
        "SELECT j.id, j.version_id, j.preset, j.kind, j.attempts, v.store_path, v.checksum, "
        "v.number, v.original_name, v.ingest_token, a.name AS asset, a.identity "
        "FROM j JOIN v ON v.id = j.version_id JOIN asset a ON a.id = v.asset_id"
    )


_TAKE = {
    Take.NEXT: Prepared("axiomd_take_next", _take_and_start(
        sql.NEXT.format(claimable=sql.CLAIMABLE, lock="FOR UPDATE SKIP LOCKED"))),
    Take.BY_ID: Prepared("axiomd_take_by_id", _take_and_start(sql.BY_ID)),
    Take.FROM_DEAD: Prepared("axiomd_take_from_dead", _take_and_start(sql.FROM_DEAD)),
}
# A version without media holds JSON null (not SQL NULL), which jsonb's || would turn
# into an array; so anything but an object counts as empty.
_MERGE_MEDIA = (
    "CASE WHEN CAST(:media AS jsonb) IS NULL THEN media ELSE CAST(CASE WHEN "
    "jsonb_typeof(CAST(media AS jsonb)) = 'object' THEN CAST(media AS jsonb) ELSE '{}' END "
    "|| CAST(:media AS jsonb) AS json) END"
)
# The job row is locked first, then its version: the same order as every other writer.
# The version it completes gets its `version.complete` event (and outbox row) in the
# same statement: still one round trip.
_COMPLETED = (
    f"WITH d AS ({sql.DONE_SQL}), v AS (UPDATE version SET {sql.FINISH_SQL}, "
    f"{sql.FINISH_REVIEW_SQL}, media = {_MERGE_MEDIA} FROM d WHERE version.id = d.version_id "
    "RETURNING version.id, version.status, version.review, version.submitted_by, "
    "version.note), e AS (INSERT INTO event (name, version_id, payload, created_at) "
    "SELECT 'version.complete', v.id, json_build_object('status', v.status, 'review', "
    f"v.review, 'by', v.submitted_by, 'note', v.note), :now FROM v WHERE v.status = {sql.COMPLETE} "
    "RETURNING id){outbox} SELECT id, status FROM v"
)
_COMPLETE = Prepared("axiomd_complete", _COMPLETED.replace("{outbox}", ""))
_COMPLETE_OUTBOX = Prepared("axiomd_complete_outbox", _COMPLETED.replace(
    "{outbox}", f", o AS (INSERT INTO {sql.EVENT_OUTBOX_COLUMNS} "
           "SELECT id, 'version.complete', 0, :now FROM e)"))
_UPGRADE_LOCK = 0x6178696F6D64  # any fixed number
_LOCK_VERSION = text("SELECT media FROM version WHERE id = :id FOR UPDATE").columns(
    version_t.c.media)


# An event's outbox row, from the CTE `e` that inserted the event named :name.
_EVENT_OUTBOX = f"INSERT INTO {sql.EVENT_OUTBOX_COLUMNS} SELECT id, :name, 0, :now FROM e"


@lru_cache(maxsize=32)
def _insert_all(jobs: int, with_outbox: bool, first: bool = False) -> Prepared:
    """Version, jobs, their outbox rows and the `version.created` event in one statement;
    with `first`, the asset too (the CTE `a`), and nothing at all if it exists."""
    statement = f"WITH v AS ({sql.INSERT_VERSION_SQL})"
    if first:
        statement = (f"WITH a AS ({sql.CREATE_ASSET_SQL}), v AS (INSERT INTO "
                     f"{sql.VERSION_COLUMNS} SELECT a.id, {sql.VERSION_VALUES} FROM a "
                     "RETURNING id)")
    statement += _jobs_and_event("v", jobs, with_outbox, payload=":payload")
    kind = "first_version" if first else "version"
    return Prepared(f"axiomd_insert_{kind}_{jobs}_{int(with_outbox)}",
                    statement + " SELECT id FROM v")


def _jobs_and_event(versions: str, jobs: int, with_outbox: bool, payload: str,
                    order: str = "") -> str:
    """CTEs after the versions CTE `versions` (column `id`): each version's jobs, their
    outbox rows, and its `version.created` event with `payload`."""
    statement = ""
    if jobs:
        rows = ", ".join(f"(:preset{i}, :kind{i})" for i in range(jobs))
        statement += (f", j AS (INSERT INTO {sql.JOB_COLUMNS} "
                      f"SELECT {versions}.id, x.preset, x.kind, {sql.QUEUED}, 0, :now, :now "
                      f"FROM {versions}, (VALUES {rows}) AS x(preset, kind){order} "
                      "RETURNING id, kind)")
        if with_outbox:
            statement += (f", o AS (INSERT INTO {sql.OUTBOX_COLUMNS} "
                          "SELECT id, :prefix || kind, 0, :now FROM j)")
    statement += (", e AS (INSERT INTO event (name, version_id, payload, created_at) "
                  f"SELECT :name, {versions}.id, {payload}, :now FROM {versions}{order} "
                  "RETURNING id)")
    if with_outbox:
        statement += f", eo AS ({_EVENT_OUTBOX})"
    return statement


# What differs between the first versions of one statement, one array each (`unnest`);
# the rest (now, jobs_left, the jobs, the event's name) is the same for all.
_PER_FIRST = {
    "asset": "text", "naming": "text", "identity": "json", "number": "int",
    "store_path": "text", "original_name": "text", "checksum": "text", "size": "bigint",
    "submitted_by": "text", "origin_host": "text", "origin_path": "text",
    "ingest_token": "text", "media": "json", "note": "text", "task": "text",
    "payload": "json",
}
_SHARED = ("now", "jobs_left")


@lru_cache(maxsize=32)
def _insert_firsts(jobs: int, with_outbox: bool) -> Prepared:
    """`_insert_all(first=True)` for many assets in one statement: one round trip for a
    chunk's new assets instead of one each. Assets that exist get nothing; the rest are
    inserted in the order given (asset name order, as every allocation locks them), and
    their versions, jobs and events in that order too. Returns (ordinal, version id).
    If any of the assets is seen to exist when the statement starts, it inserts nothing:
    then no savepoint is needed to undo it (two round trips fewer per chunk).
    A single new asset keeps `_insert_all(first=True)`: through this statement it
    allocated ~20% slower (arrays to adapt and unnest for one row)."""
    arrays = ", ".join(f"CAST(CAST(:{name}s AS text[]) AS json[])" if kind == "json"
                       else f"CAST(:{name}s AS {kind}[])" for name, kind in _PER_FIRST.items())
    values = re.sub(r":(\w+)", lambda m: m[0] if m[1] in _SHARED else f"i.{m[1]}",
                    sql.VERSION_VALUES)
    statement = (
        f"WITH i AS (SELECT * FROM unnest({arrays}) WITH ORDINALITY "
        f"AS i({', '.join(_PER_FIRST)}, n)), "
        "a AS (INSERT INTO asset (name, naming, identity, latest_number, created_at) "
        "SELECT asset, naming, identity, 1, :now FROM i "
        "WHERE NOT EXISTS (SELECT 1 FROM asset JOIN i ON asset.name = i.asset) ORDER BY n "
        "ON CONFLICT (name) DO NOTHING RETURNING id, name), "
        f"v AS (INSERT INTO {sql.VERSION_COLUMNS} SELECT a.id, {values} "
        "FROM a JOIN i ON i.asset = a.name ORDER BY i.n RETURNING id, asset_id), "
        "f AS (SELECT v.id, i.n, i.payload FROM v JOIN a ON a.id = v.asset_id "
        "JOIN i ON i.asset = a.name)"
    )
    statement += _jobs_and_event("f", jobs, with_outbox, payload="f.payload",
                                 order=" ORDER BY f.n")
    return Prepared(f"axiomd_insert_firsts_{jobs}_{int(with_outbox)}",
                    statement + " SELECT n, id FROM f")


_CREATE_ASSET = Prepared("axiomd_create_asset", sql.CREATE_ASSET.text)


def _with_created(params: Mapping[str, Any], created: Mapping[str, Any]) -> dict[str, Any]:
    """`_insert_all`'s parameters: the version's, its jobs' routing, its created event."""
    return {**params, "prefix": ROUTING_PREFIX, "name": events.CREATED,
            "payload": dict(created)}


@lru_cache(maxsize=2)
def _insert_event(with_outbox: bool) -> TextClause:
    """The event and its outbox row in one statement."""
    if not with_outbox:
        return sql.INSERT_EVENT
    return text(f"WITH e AS ({sql.INSERT_EVENT_SQL}), o AS ({_EVENT_OUTBOX}) "
                "SELECT id FROM e").bindparams(sql.NOW, sql.PAYLOAD)


class PostgresBackend(Backend):
    def insert_version(self, conn: Connection, params: Mapping[str, Any], jobs: int,
                       with_outbox: bool, created: Mapping[str, Any]) -> int:
        values = _with_created(params, created)
        return int(prepared.run_in(conn, _insert_all(jobs, with_outbox), values)[0])

    def insert_first_version(self, conn: Connection, asset: Mapping[str, Any],
                             params: Mapping[str, Any], jobs: int, with_outbox: bool,
                             created: Mapping[str, Any]) -> int | None:
        values = _with_created({**asset, **params}, created)
        row = prepared.run_in(conn, _insert_all(jobs, with_outbox, first=True), values)
        return None if row is None else int(row[0])

    def insert_first_versions(self, conn: Connection, firsts: Sequence[FirstVersion],
                              jobs: int, with_outbox: bool) -> list[int] | None:
        rows = [_with_created({**f.asset, **f.params}, f.created) for f in firsts]
        values = {f"{name}s": [json.dumps(r[name]) if kind == "json" and r[name] is not None
                               else r[name] for r in rows]
                  for name, kind in _PER_FIRST.items()}
        shared = {k: v for k, v in rows[0].items() if k not in _PER_FIRST}
        made = dict(prepared.run_all_in(conn, _insert_firsts(jobs, with_outbox),
                                        {**shared, **values}))
        if not made:
            return None
        if len(made) < len(firsts):
            raise LostRace("another transaction made one of a chunk's new assets while "
                           "the chunk's statement ran")
        return [made[n] for n in range(1, len(firsts) + 1)]

    def create_asset(self, conn: Connection, params: Mapping[str, Any]) -> int | None:
        row = prepared.run_in(conn, _CREATE_ASSET, params)
        return None if row is None else int(row[0])

    def take_job(self, engine: Engine, params: Mapping[str, Any],
                 which: Take) -> Mapping[str, Any] | None:
        row = prepared.run(engine, _TAKE[which], params)
        return None if row is None else row._asdict()

    def complete_job(self, engine: Engine, params: Mapping[str, Any],
                     media: Mapping[str, Any] | None, with_outbox: bool = False) -> str | None:
        values = {**params, "media": None if media is None else dict(media)}
        statement = _COMPLETE_OUTBOX if with_outbox else _COMPLETE
        row = prepared.run(engine, statement, values)
        return None if row is None else str(row.status)

    def insert_event(self, conn: Connection, params: Mapping[str, Any],
                     with_outbox: bool) -> int:
        return int(conn.execute(_insert_event(with_outbox), params).scalar_one())

    def lock_version(self, conn: Connection, version_id: int) -> dict[str, Any] | None:
        return conn.execute(_LOCK_VERSION, {"id": version_id}).scalar()

    def serialise_upgrades(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK})


BACKEND = PostgresBackend()
