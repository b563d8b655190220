"""Allocating versions atomically, and reading assets, versions and lineage back.

`allocate_version` is the heart of axiomd. In ONE transaction it bumps the asset's
`latest_number` with an UPDATE (which row-locks the asset on PostgreSQL and takes the
write lock on SQLite), so concurrent allocations on one asset queue up and each sees the
previous one's number. `UNIQUE (asset_id, number)` stays as the safety net, and lost
races are retried from the start by `transaction`.

`allocate_versions` is the same rule for many files at once (group commit): one
transaction, one commit and so one fsync of the database's log for a whole batch. A run
of new assets in a batch (a burst of new shots) goes in as one statement on PostgreSQL.

Longer than most modules: the reads below return the same `VersionInfo` the allocation
does, and keeping writer and readers of a version's shape together keeps them agreeing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine, Row

from axiomd import events
from axiomd.catalog import statements as sql
from axiomd.catalog.backends import FirstVersion, backend_for
from axiomd.catalog.db import transaction
from axiomd.catalog.models import asset_t, utcnow, version_t
from axiomd.errors import DuplicateContent, NotFound, VersionConflict
from axiomd.lifecycle import VersionState
from axiomd.timestamps import iso_z
from axiomd.versioning import choose_number, version_label

T = TypeVar("T")


@dataclass(frozen=True)
class JobSpec:
    preset: str
    kind: str


@dataclass(frozen=True)
class NewVersion:
    """Everything known about a file before it gets a number."""

    asset: str
    naming: str
    identity: Mapping[str, str]
    checksum: str
    size: int
    original_name: str
    store_path: Callable[[int], str]
    requested_number: int | None = None
    version_policy: str = "reject"
    parent_number: int | None = None
    submitted_by: str = ""
    origin_host: str = ""
    origin_path: str = ""
    ingest_token: str | None = None
    check_duplicate: bool = True
    media: Mapping[str, Any] | None = None
    allow_gap: bool = False  # the caller waited for lower numbers long enough
    note: str | None = None  # the publish note (`ingest --note`)
    task: str | None = None


@dataclass(frozen=True)
class VersionInfo:
    """A version as the CLI and the JSON output show it."""

    id: int
    asset: str
    number: int
    status: str
    parent: str | None
    checksum: str
    size: int
    store_path: str
    original_name: str
    submitted_by: str
    origin_host: str
    origin_path: str
    created_at: datetime
    completed_at: datetime | None
    media: Mapping[str, Any] | None
    error: str | None
    review: str | None = None
    note: str | None = None
    task: str | None = None

    @property
    def label(self) -> str:
        return version_label(self.number)

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "version": self.label,
            "number": self.number,
            "status": self.status,
            "parent": self.parent,
            "checksum": self.checksum,
            "size": self.size,
            "store_path": self.store_path,
            "original_name": self.original_name,
            "submitted_by": self.submitted_by,
            "origin_host": self.origin_host,
            "origin_path": self.origin_path,
            "created_at": iso_z(self.created_at),
            "completed_at": iso_z(self.completed_at),
            "media": self.media,
            "error": self.error,
            "review": self.review,
            "note": self.note,
            "task": self.task,
        }


def allocate_version(
    engine: Engine, new: NewVersion, jobs: Sequence[JobSpec], with_outbox: bool
) -> VersionInfo:
    """Give `new` the asset's next number, with its jobs and outbox rows, atomically.

    Everything that does not need the number is written first; the asset's counter is
    bumped (and so row-locked) last, then the number set, then commit. The lock is held
    for two statements, not six, which is what lets many processes share one asset.
    An asset's first version needs neither: the asset row is created already numbered
    and locked by this transaction, so the version goes in with its number (on
    PostgreSQL in the same statement as the asset).
    """
    return _transaction(engine, lambda conn: _allocate(conn, new, jobs, with_outbox))


# Why a file gets no number: the artist's to fix (or to wait for), never the catalog's.
Refusal = DuplicateContent | VersionConflict | NotFound
REFUSALS = (DuplicateContent, VersionConflict, NotFound)


class _Refused(Exception):
    pass


def allocate_versions(engine: Engine, requests: Sequence[NewVersion], jobs: Sequence[JobSpec],
                      with_outbox: bool) -> list[VersionInfo | Refusal]:
    """`allocate_version` for many files in one transaction; each its version or refusal.

    Requests of one asset are numbered in the order given. Assets' rows are locked in
    name order, so two watchers committing overlapping batches cannot deadlock. A
    refusal must not undo the others, and undoing its own writes takes a savepoint: a
    batch is first tried without any (two round trips fewer per file), and only a batch
    that meets a refusal is done again with one savepoint per request.
    """
    order = sorted(range(len(requests)), key=lambda i: requests[i].asset)
    batch = [requests[i] for i in order]
    try:
        results = _transaction(engine, lambda conn: _allocate_all(conn, batch, jobs,
                                                                  with_outbox, savepoints=False))
    except _Refused:
        results = _transaction(engine, lambda conn: _allocate_all(conn, batch, jobs,
                                                                  with_outbox, savepoints=True))
    by_request = dict(zip(order, results, strict=True))
    return [by_request[i] for i in range(len(requests))]


def _allocate_all(conn: Connection, batch: Sequence[NewVersion], jobs: Sequence[JobSpec],
                  with_outbox: bool, savepoints: bool) -> list[VersionInfo | Refusal]:
    made: list[VersionInfo | Refusal] = []
    named = Counter(new.asset for new in batch)
    i = 0
    while i < len(batch):
        run = [] if savepoints else _new_assets(conn, batch[i:], named)
        firsts = _first_versions(conn, run, jobs, with_outbox) if len(run) > 1 else None
        if firsts is not None:
            made += firsts
        else:
            made += [_allocate_one(conn, new, jobs, with_outbox, savepoints)
                     for new, _ in run or [(batch[i], None)]]
        i += max(len(run), 1)
    return made


def _allocate_one(conn: Connection, new: NewVersion, jobs: Sequence[JobSpec],
                  with_outbox: bool, savepoint: bool) -> VersionInfo | Refusal:
    if not savepoint:
        try:
            return _allocate(conn, new, jobs, with_outbox)
        except REFUSALS as exc:
            raise _Refused from exc
    try:
        with conn.begin_nested():
            return _allocate(conn, new, jobs, with_outbox)
    except REFUSALS as exc:
        return exc


def _new_assets(conn: Connection, batch: Sequence[NewVersion],
                named: Counter[str]) -> list[tuple[NewVersion, int]]:
    """The first requests of `batch` that look like new assets' first versions (assets
    named once in the whole batch, `named`, and not known to exist), with their numbers."""
    run = []
    for new in batch:
        first = _first_number(conn, new) if named[new.asset] == 1 else None
        if first is None:
            break
        run.append((new, first))
    return run


def _first_versions(conn: Connection, run: Sequence[tuple[NewVersion, int]],
                    jobs: Sequence[JobSpec], with_outbox: bool) -> list[VersionInfo] | None:
    """New assets and their first versions in one statement: a burst of new shots is
    mostly that, and one round trip for a chunk's files instead of one each kept the
    watcher's numbering from waiting on the catalog. None, with nothing written, if any
    of the assets exists after all: then each is allocated on its own, in order, so
    assets are still locked in name order."""
    now = utcnow()
    firsts = [FirstVersion(_asset_params(new, now),
                           _version_params(new, jobs, now, None, first, new.store_path(first)),
                           _created(new)) for new, first in run]
    made = backend_for(conn).insert_first_versions(conn, firsts, len(jobs), with_outbox)
    if made is None:
        return None
    return [_info(new, version_id, first, None, str(f.params["store_path"]), now)
            for (new, first), f, version_id in zip(run, firsts, made, strict=True)]


def _created(new: NewVersion) -> dict[str, object]:
    """The `version.created` event's payload."""
    return events.moment(VersionState.PENDING, None, new.submitted_by, new.note)


def _allocate(
    conn: Connection, new: NewVersion, jobs: Sequence[JobSpec], with_outbox: bool
) -> VersionInfo:
    now = utcnow()
    created = _created(new)
    first = _first_number(conn, new)
    if first is not None:
        store_path = new.store_path(first)
        params = _version_params(new, jobs, now, None, first, store_path)
        made = backend_for(conn).insert_first_version(conn, _asset_params(new, now), params,
                                                      len(jobs), with_outbox, created)
        if made is not None:
            return _info(new, made, first, None, store_path, now)
    asset_id, fresh = _asset_id(conn, new, exists=first is not None)
    number: int | None = None
    if fresh:
        if new.parent_number is not None:
            raise NotFound(f"{new.asset} has no {version_label(new.parent_number)}")
        number = choose_number(1, new.requested_number, new.version_policy, new.asset,
                               new.allow_gap)
    store_path = new.store_path(number) if number else ""
    params = _version_params(new, jobs, now, asset_id, number, store_path)
    version_id = backend_for(conn).insert_version(conn, params, len(jobs), with_outbox, created)
    parent = None
    if number is None:
        number, parent, store_path = _number(conn, new, asset_id, version_id)
    return _info(new, version_id, number, parent, store_path, now)


def _first_number(conn: Connection, new: NewVersion) -> int | None:
    """The number `new` gets if its asset is new, or None where it cannot go in as an
    asset's first version (the asset is known to exist, it names a parent, or 1 would
    refuse the number it asks for): then the asset is looked up or made on its own."""
    if new.parent_number is not None or _asset_key(conn, new) in _ASSET_IDS:
        return None
    try:
        return choose_number(1, new.requested_number, new.version_policy, new.asset,
                             new.allow_gap)
    except VersionConflict:
        return None


def _asset_params(new: NewVersion, now: datetime) -> dict[str, object]:
    return {"asset": new.asset, "naming": new.naming, "identity": dict(new.identity),
            "now": now}


def _version_params(new: NewVersion, jobs: Sequence[JobSpec], now: datetime,
                    asset_id: int | None, number: int | None,
                    store_path: str) -> dict[str, object]:
    params: dict[str, object] = {
        "number": number, "store_path": store_path,
        "asset_id": asset_id, "original_name": new.original_name, "checksum": new.checksum,
        "size": new.size, "submitted_by": new.submitted_by, "origin_host": new.origin_host,
        "origin_path": new.origin_path, "ingest_token": new.ingest_token, "now": now,
        "media": dict(new.media) if new.media else None,
        "jobs_left": len(jobs), "note": new.note, "task": new.task,
    }
    for i, job in enumerate(jobs):
        params[f"preset{i}"], params[f"kind{i}"] = job.preset, job.kind
    return params


def _info(new: NewVersion, version_id: int, number: int, parent: str | None,
          store_path: str, now: datetime) -> VersionInfo:
    return VersionInfo(
        id=version_id, asset=new.asset, number=number, status=VersionState.PENDING,
        parent=parent, checksum=new.checksum,
        size=new.size, store_path=store_path, original_name=new.original_name,
        submitted_by=new.submitted_by, origin_host=new.origin_host,
        origin_path=new.origin_path, created_at=now, completed_at=None, media=None, error=None,
        note=new.note, task=new.task,
    )


def _number(conn: Connection, new: NewVersion, asset_id: int,
            version_id: int) -> tuple[int, str | None, str]:
    """Bump the asset's counter (taking its row lock) and number the version: (number,
    parent, store path)."""
    next_number = conn.execute(sql.BUMP, {"id": asset_id}).scalar_one()
    try:
        number = choose_number(next_number, new.requested_number, new.version_policy,
                               new.asset, new.allow_gap)
    except VersionConflict:
        # The same content under a taken (or early) number is a resubmission, not a
        # numbering mistake: say which version it already is.
        if new.check_duplicate:
            _raise_duplicate(conn, new, asset_id)
        raise
    parent_number = new.parent_number if new.parent_number is not None else number - 1
    store_path = new.store_path(number)
    numbered = conn.execute(sql.NUMBER, {
        "number": number, "store_path": store_path, "asset_id": asset_id,
        "parent_number": parent_number, "id": version_id,
        "check_duplicate": new.check_duplicate, "checksum": new.checksum,
    }).first()
    if numbered is None:
        _raise_duplicate(conn, new, asset_id)
    if numbered.parent_id is None:
        if new.parent_number is not None:
            raise NotFound(f"{new.asset} has no {version_label(parent_number)}")
        return number, None, store_path
    return number, version_label(parent_number), store_path


_ASSET_IDS: dict[tuple[str, str], int] = {}


def _transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`transaction`, forgetting every remembered asset id when an attempt fails: an id
    looked up in a transaction that is undone may be of an asset that transaction made."""
    def attempt(conn: Connection) -> T:
        try:
            return work(conn)
        except BaseException:
            _ASSET_IDS.clear()
            raise

    try:
        return transaction(engine, attempt)
    except BaseException:
        _ASSET_IDS.clear()
        raise


def _asset_key(conn: Connection, new: NewVersion) -> tuple[str, str]:
    return str(conn.engine.url), new.asset


def _asset_id(conn: Connection, new: NewVersion, exists: bool = False) -> tuple[int, bool]:
    """The asset's id, and whether this transaction just created it (race-free).
    `exists`: the asset was found to exist (it is then only looked up).

    Assets are never deleted or renamed, so a process remembers ids it has seen.
    """
    key = _asset_key(conn, new)
    if key in _ASSET_IDS:
        return _ASSET_IDS[key], False
    if not exists:
        created = backend_for(conn).create_asset(conn, _asset_params(new, utcnow()))
        if created is not None:
            return created, True  # not remembered: this transaction may yet roll back
    found = int(conn.execute(select(asset_t.c.id).where(asset_t.c.name == new.asset)).scalar_one())
    _ASSET_IDS[key] = found
    return found, False


def _raise_duplicate(conn: Connection, new: NewVersion, asset_id: int) -> None:
    """Raise DuplicateContent if a version of the asset has this content."""
    same = conn.execute(
        select(func.min(version_t.c.number)).where(
            version_t.c.asset_id == asset_id, version_t.c.checksum == new.checksum,
            version_t.c.number.is_not(None))
    ).scalar_one()
    if same is None:
        return
    label = version_label(same)
    raise DuplicateContent(
        f"same content as {new.asset} {label} (sha256 {new.checksum[:12]}…); "
        f"no new version made. To make {label} current again, run "
        f"`axiomd derive {new.asset} --from {label}`",
        asset=new.asset,
        version_label=label,
    )


def _info_query() -> Any:
    parent = version_t.alias("parent")
    return (
        select(version_t, asset_t.c.name.label("asset_name"), parent.c.number.label("parent_number"))
        .join(asset_t, asset_t.c.id == version_t.c.asset_id)
        .outerjoin(parent, parent.c.id == version_t.c.parent_id)
    )


def _to_info(row: Row[Any]) -> VersionInfo:
    m = row._mapping
    return VersionInfo(
        id=m["id"], asset=m["asset_name"], number=m["number"], status=m["status"],
        parent=version_label(m["parent_number"]) if m["parent_number"] else None,
        checksum=m["checksum"], size=m["size"], store_path=m["store_path"],
        original_name=m["original_name"], submitted_by=m["submitted_by"],
        origin_host=m["origin_host"], origin_path=m["origin_path"],
        created_at=m["created_at"], completed_at=m["completed_at"], media=m["media"],
        error=m["error"], review=m["review"], note=m["note"], task=m["task"],
    )


@dataclass(frozen=True)
class AssetInfo:
    name: str
    naming: str
    identity: Mapping[str, str]
    latest_number: int
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.name,
            "naming": self.naming,
            "identity": dict(self.identity),
            "latest": version_label(self.latest_number) if self.latest_number else None,
            "versions": self.latest_number,
            "created_at": iso_z(self.created_at),
        }


def list_assets(engine: Engine) -> list[AssetInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(asset_t).where(asset_t.c.latest_number > 0)
                            .order_by(asset_t.c.name))
        return [AssetInfo(r.name, r.naming, r.identity, r.latest_number, r.created_at)
                for r in rows]


def get_asset(engine: Engine, name: str) -> AssetInfo:
    with engine.connect() as conn:
        _require_asset(conn, name)
        r = conn.execute(select(asset_t).where(asset_t.c.name == name)).one()
        return AssetInfo(r.name, r.naming, r.identity, r.latest_number, r.created_at)


def list_versions(engine: Engine, asset: str) -> list[VersionInfo]:
    with engine.connect() as conn:
        _require_asset(conn, asset)
        rows = conn.execute(
            _info_query().where(asset_t.c.name == asset).order_by(version_t.c.number)
        )
        return [_to_info(r) for r in rows]


def get_version(engine: Engine, asset: str, number: int) -> VersionInfo:
    with engine.connect() as conn:
        return _get_version(conn, asset, number)


def find_by_token(engine: Engine, token: str) -> VersionInfo | None:
    with engine.connect() as conn:
        row = conn.execute(_info_query().where(version_t.c.ingest_token == token)).first()
        return _to_info(row) if row else None


def _get_version(conn: Connection, asset: str, number: int) -> VersionInfo:
    _require_asset(conn, asset)
    row = conn.execute(
        _info_query().where(asset_t.c.name == asset, version_t.c.number == number)
    ).first()
    if row is None:
        raise NotFound(f"{asset} has no {version_label(number)}")
    return _to_info(row)


def _require_asset(conn: Connection, asset: str) -> None:
    if conn.execute(select(asset_t.c.id).where(asset_t.c.name == asset)).first() is None:
        similar = conn.execute(
            select(asset_t.c.name)
            .where(func.lower(asset_t.c.name).contains(asset.lower()[:6]))
            .limit(5)
        ).scalars().all()
        hint = f" (did you mean {', '.join(similar)}?)" if similar else ""
        raise NotFound(f"no asset named {asset!r}{hint}")


@dataclass(frozen=True)
class LineageNode:
    version: VersionInfo
    children: tuple[LineageNode, ...]


def lineage(engine: Engine, asset: str) -> list[LineageNode]:
    """The asset's versions as a tree: each version under the one it was made from."""
    versions = list_versions(engine, asset)
    children: dict[str | None, list[VersionInfo]] = {}
    for v in versions:
        children.setdefault(v.parent, []).append(v)

    def build(v: VersionInfo) -> LineageNode:
        return LineageNode(v, tuple(build(c) for c in children.get(v.label, [])))

    return [build(v) for v in children.get(None, [])]
