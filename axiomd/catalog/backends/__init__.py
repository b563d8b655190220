"""What PostgreSQL and SQLite do differently, behind one small port.

Everything else in `catalog/` is written once for both. A rule that must differ per
database (one round trip on PostgreSQL where SQLite needs three statements, row locks
that SQLite gets from its file lock) differs here, in `postgres.py` and `sqlite.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy.engine import Connection, Engine

from axiomd.catalog.statements import CREATE_ASSET


class Take(Enum):
    NEXT = "next"
    BY_ID = "by_id"
    FROM_DEAD = "from_dead"


@dataclass(frozen=True)
class FirstVersion:
    """A new asset and its first version: `insert_first_version`'s arguments."""

    asset: Mapping[str, Any]
    params: Mapping[str, Any]
    created: Mapping[str, Any]


class Backend:
    """The statements of the hot paths, each as its database runs it best."""

    def insert_version(self, conn: Connection, params: Mapping[str, Any], jobs: int,
                       with_outbox: bool, created: Mapping[str, Any]) -> int:
        """Insert a version row with `jobs` queued jobs (and their outbox rows) and its
        `version.created` event with payload `created`; the version's id."""
        raise NotImplementedError

    def create_asset(self, conn: Connection, params: Mapping[str, Any]) -> int | None:
        """Insert the asset, numbered 1, unless it exists; its id, or None if it existed."""
        created = conn.execute(CREATE_ASSET, params).scalar()
        return None if created is None else int(created)

    def insert_first_version(self, conn: Connection, asset: Mapping[str, Any],
                             params: Mapping[str, Any], jobs: int, with_outbox: bool,
                             created: Mapping[str, Any]) -> int | None:
        """Insert the asset and `params` as its first version, as `insert_version` does;
        the version's id, or None (and nothing written) if the asset exists."""
        asset_id = self.create_asset(conn, asset)
        if asset_id is None:
            return None
        return self.insert_version(conn, {**params, "asset_id": asset_id}, jobs, with_outbox,
                                   created)

    def insert_first_versions(self, conn: Connection, firsts: Sequence[FirstVersion],
                              jobs: int, with_outbox: bool) -> list[int] | None:
        """`insert_first_version` for several assets, none named twice: their version
        ids, or None, with nothing written, if any of the assets exists."""
        with conn.begin_nested() as savepoint:
            made = [self.insert_first_version(conn, f.asset, f.params, jobs, with_outbox,
                                              f.created) for f in firsts]
            ids = [version_id for version_id in made if version_id is not None]
            if len(ids) < len(made):
                savepoint.rollback()
                return None
        return ids

    def take_job(self, engine: Engine, params: Mapping[str, Any],
                 which: Take) -> Mapping[str, Any] | None:
        """Lease a job (the oldest claimable, the one named by `:id`, or that one from the
        dead holder `:dead`) and mark its version started; the job's and the version's
        columns, or None."""
        raise NotImplementedError

    def complete_job(self, engine: Engine, params: Mapping[str, Any],
                     media: Mapping[str, Any] | None, with_outbox: bool = False) -> str | None:
        """Finish a job this owner holds, count its version down, merge `media`; the
        last one completes the version, puts it up for review and records
        `version.complete` (with its outbox row in broker mode). The version's status
        after, or None if the job was not this owner's to finish."""
        raise NotImplementedError

    def insert_event(self, conn: Connection, params: Mapping[str, Any],
                     with_outbox: bool) -> int:
        """Insert a version event (and its outbox row); its id."""
        raise NotImplementedError

    def lock_version(self, conn: Connection, version_id: int) -> dict[str, Any] | None:
        """Take the version's row lock for this transaction; returns its media."""
        raise NotImplementedError

    def serialise_upgrades(self, conn: Connection) -> None:
        """Make concurrent `db upgrade`s wait for each other in this transaction."""


def backend_for(bind: Engine | Connection) -> Backend:
    return _backends()[bind.dialect.name == "postgresql"]


@functools.cache
def _backends() -> tuple[Backend, Backend]:
    """(SQLite's, PostgreSQL's), imported on first use: each imports this module."""
    from axiomd.catalog.backends import postgres, sqlite

    return sqlite.BACKEND, postgres.BACKEND
