"""Review state, notes and version events (issue 16).

- `version.review`: NULL until the version completes, then `pending_review`;
  `version.note` / `version.task`: the publish note and task given with the file.
- `review`: append-only history of review changes (who, when, from, to, note).
- `note`: free notes on a version.
- `event`: every change of a version, the source of `axiomd events`, the
  `<prefix>.events` exchange and webhooks; `hooked_at` is set once the webhook fan-out
  has made its deliveries.
- `outbox.event_id`: an outbox row carries either a job or an event.
- `webhook_delivery`: one row per (webhook, event), with its retry state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("version") as batch:
        batch.add_column(sa.Column("review", sa.String(16), nullable=True))
        batch.add_column(sa.Column("note", sa.Text, nullable=True))
        batch.add_column(sa.Column("task", sa.String(255), nullable=True))
    op.execute("UPDATE version SET review = 'pending_review' WHERE status = 'complete'")
    op.create_table(
        "review",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("version.id"), nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_review_version_id", "review", ["version_id"])
    op.create_table(
        "note",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("version.id"), nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_note_version_id", "note", ["version_id"])
    op.create_table(
        "event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("version.id"), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("hooked_at", TS, nullable=True),
    )
    op.create_index("ix_event_version_id", "event", ["version_id"])
    op.create_index("ix_event_unhooked", "event", ["hooked_at", "id"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer, sa.ForeignKey("event.id",
                                   name="fk_outbox_event_id"), nullable=True))
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("webhook", sa.String(2048), nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("event.id"), nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.UniqueConstraint("webhook", "event_id", name="uq_webhook_delivery"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery",
                    ["webhook", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_event_id", type_="foreignkey")
        batch.drop_column("event_id")
    for table in ("event", "note", "review"):
        op.drop_table(table)
    with op.batch_alter_table("version") as batch:
        for column in ("task", "note", "review"):
            batch.drop_column(column)
