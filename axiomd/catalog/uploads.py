"""Uploads through the HTTP API: pending until the file is versioned or refused.

The row is what `GET /api/v1/uploads/{id}` answers from, in any API process: the
outcome (a version, or the refusal in the drop-folder note's words) is kept once known.
An upload whose server died before it finished is marked `failed` at the next start on
that host; its staged bytes are cleared by `Ingestor.recover_staged` like any others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from axiomd.catalog.models import upload_t, utcnow
from axiomd.catalog.versions import VersionInfo, find_by_token
from axiomd.identity import left_by_dead_process, token_owner

PENDING = "pending"
LOST = ("the API server stopped before this upload was versioned; nothing was kept, "
        "upload the file again")



@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    status: str  # pending, accepted, rejected, duplicate, failed
    by: str
    size: int | None
    checksum: str | None
    reason: str | None
    message: str | None  # the same note a drop folder would get
    duplicate_of: str | None
    created_at: datetime
    finished_at: datetime | None
    version: VersionInfo | None

    def to_json(self) -> dict[str, Any]:
        return {
            "upload": self.id, "name": self.name, "status": self.status, "by": self.by,
            "size": self.size, "checksum": self.checksum, "reason": self.reason,
            "note": self.message, "duplicate_of": self.duplicate_of,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "version": self.version.to_json() if self.version else None,
        }


def begin(engine: Engine, upload_id: str, name: str, by: str, ingest_token: str,
          size: int, checksum: str) -> None:
    """The file is staged and hashed: record the upload as pending."""
    with engine.begin() as conn:
        conn.execute(insert(upload_t).values(
            id=upload_id, name=name, status=PENDING, by=by, size=size, checksum=checksum,
            ingest_token=ingest_token, created_at=utcnow()))


def refused_at_once(engine: Engine, upload_id: str, name: str, by: str, reason: str,
                    message: str) -> None:
    """An upload refused before any byte was kept (its name was wrong)."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(upload_t).values(
            id=upload_id, name=name, status="rejected", by=by, reason=reason, message=message,
            created_at=now, finished_at=now))


def finish(engine: Engine, upload_id: str, status: str, *, version_id: int | None = None,
           reason: str | None = None, message: str | None = None,
           duplicate_of: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(upload_t).where(upload_t.c.id == upload_id).values(
            status=status, version_id=version_id, reason=reason, message=message,
            duplicate_of=duplicate_of, finished_at=utcnow()))


def get(engine: Engine, upload_id: str) -> Upload | None:
    with engine.connect() as conn:
        row = conn.execute(select(upload_t).where(upload_t.c.id == upload_id)).first()
    if row is None:
        return None
    version = (find_by_token(engine, row.ingest_token)
               if row.status == "accepted" and row.ingest_token else None)
    return Upload(row.id, row.name, row.status, row.by, row.size, row.checksum, row.reason,
                  row.message, row.duplicate_of, row.created_at, row.finished_at, version)


def abandon_dead(engine: Engine) -> int:
    """Pending uploads whose server process died: accepted if their version committed,
    else failed with a reason. Returns how many were settled."""
    with engine.connect() as conn:
        rows = conn.execute(select(upload_t.c.id, upload_t.c.ingest_token)
                            .where(upload_t.c.status == PENDING)).all()
    settled = 0
    for row in rows:
        if not row.ingest_token or not left_by_dead_process(token_owner(row.ingest_token)):
            continue
        version = find_by_token(engine, row.ingest_token)
        if version is not None:
            finish(engine, row.id, "accepted", version_id=version.id)
        else:
            finish(engine, row.id, "failed", reason=LOST, message=LOST + "\n")
        settled += 1
    return settled


def outcome_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {s: n for s, n in conn.execute(
            select(upload_t.c.status, func.count()).group_by(upload_t.c.status))}
