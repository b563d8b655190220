"""Initial catalog: assets, versions, jobs, outbox, heartbeats.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "asset",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("naming", sa.String(64), nullable=False),
        sa.Column("identity", sa.JSON, nullable=False),
        sa.Column("latest_number", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("asset.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("version.id"), nullable=True),
        sa.Column("store_path", sa.Text, nullable=False),
        sa.Column("original_name", sa.Text, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("submitted_by", sa.String(255), nullable=False),
        sa.Column("origin_host", sa.String(255), nullable=False),
        sa.Column("origin_path", sa.Text, nullable=False),
        sa.Column("ingest_token", sa.String(128), nullable=True, unique=True),
        sa.Column("media", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.UniqueConstraint("asset_id", "number", name="uq_version_asset_number"),
    )
    op.create_index("ix_version_asset_checksum", "version", ["asset_id", "checksum"])
    op.create_table(
        "job",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("version.id"), nullable=False),
        sa.Column("preset", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("available_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("outputs", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_job_version_id", "job", ["version_id"])
    op.create_index("ix_job_claim", "job", ["status", "available_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("job.id"), nullable=True),
        sa.Column("routing_key", sa.String(255), nullable=False),
        sa.Column("delay_seconds", sa.Float, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"])
    op.create_table(
        "heartbeat",
        sa.Column("process", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("heartbeat", "outbox", "job", "version", "asset"):
        op.drop_table(table)
