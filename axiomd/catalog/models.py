"""Catalog tables as SQLAlchemy typed models; the schema itself comes from migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC everywhere; SQLite hands them back naive, so mark them."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Asset(Base):
    """One thing artists version: a shot's comp, a character's model."""

    __tablename__ = "asset"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    naming: Mapped[str] = mapped_column(String(64))
    identity: Mapped[dict[str, Any]]
    latest_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Version(Base):
    """One immutable stored file of an asset; lineage through `parent_id`."""

    __tablename__ = "version"
    __table_args__ = (
        UniqueConstraint("asset_id", "number", name="uq_version_asset_number"),
        Index("ix_version_asset_checksum", "asset_id", "checksum"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    # NULL only inside the allocating transaction, until the counter is locked.
    number: Mapped[int] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # How many of its jobs are not done yet: finishing the last one completes the version.
    jobs_left: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("version.id"))
    store_path: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    submitted_by: Mapped[str] = mapped_column(String(255), default="")
    origin_host: Mapped[str] = mapped_column(String(255), default="")
    origin_path: Mapped[str] = mapped_column(Text, default="")
    ingest_token: Mapped[str | None] = mapped_column(String(128), unique=True)
    media: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    # Review state: NULL until the version completes, then `pending_review` (review.py).
    review: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    task: Mapped[str | None] = mapped_column(String(255))


class Job(Base):
    """One piece of work on a version (probe, proxy, thumbnail), with its attempts."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_claim", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("version.id"), index=True)
    preset: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message written with the change that caused it, published later by the relay."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    # A row carries a job or, for `<prefix>.events`, an event (migration 0005).
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id", name="fk_outbox_event_id"))
    routing_key: Mapped[str] = mapped_column(String(255))
    delay_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class Heartbeat(Base):
    """The last sign of life of each daemon, for `axiomd status`."""

    __tablename__ = "heartbeat"

    process: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the process reports about itself, e.g. a watcher's missing or polled roots.
    detail: Mapped[dict[str, Any] | None]


asset_t = Asset.__table__
version_t = Version.__table__
job_t = Job.__table__
outbox_t = OutboxMessage.__table__
heartbeat_t = Heartbeat.__table__


class Review(Base):
    """One change of a version's review state; never updated or deleted."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("version.id"), index=True)
    by: Mapped[str] = mapped_column(String(255))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Note(Base):
    """A free note on a version, from a supervisor or an artist."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("version.id"), index=True)
    by: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """A change of a version, written in the transaction that made it (docs/events.md).

    `payload` holds what was true at that moment (status, review, who, note); what never
    changes (asset, number, store path, outputs of a complete version) is joined on read.
    """

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_unhooked", "hooked_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("version.id"), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once the webhook fan-out made this event's deliveries.
    hooked_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one webhook: the same `delivery_id` on every attempt until it lands."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("webhook", "event_id", name="uq_webhook_delivery"),
        Index("ix_webhook_delivery_due", "webhook", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook: Mapped[str] = mapped_column(String(2048))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


review_t = Review.__table__
note_t = Note.__table__
event_t = Event.__table__
delivery_t = WebhookDelivery.__table__


class ApiToken(Base):
    """Who may call the HTTP API, with which role; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    role: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class ApiSession(Base):
    """A review page login: the cookie's hash, its token, the CSRF value the page echoes."""

    __tablename__ = "api_session"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Upload(Base):
    """One `POST /api/v1/uploads`: pending until versioned, or refused with the drop note."""

    __tablename__ = "upload"
    __table_args__ = (Index("ix_upload_status", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(64))
    ingest_token: Mapped[str | None] = mapped_column(String(128))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("version.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


token_t = ApiToken.__table__
session_t = ApiSession.__table__
upload_t = Upload.__table__
