"""The HTTP API (issue 17): tokens, page sessions, uploads.

- `api_token`: who may call the API; only the SHA-256 of the token is kept.
- `api_session`: a review page login (cookie), tied to the token it was made with, so
  revoking the token ends its sessions; the CSRF value the page must echo on writes.
- `upload`: one `POST /api/v1/uploads`, pending until its file is versioned or refused.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_api_token_name", "api_token", ["name"])
    op.create_table(
        "api_session",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("api_token.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "upload",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("ingest_token", sa.String(128), nullable=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("version.id"), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("duplicate_of", sa.String(16), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_upload_status", "upload", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("upload")
    op.drop_table("api_session")
    op.drop_table("api_token")
