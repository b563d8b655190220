"""Count each version's jobs not yet done, so finishing a job settles it in one statement.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("version") as batch:
        batch.add_column(sa.Column("jobs_left", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE version SET jobs_left = (SELECT count(*) FROM job "
               "WHERE job.version_id = version.id AND job.status <> 'done')")


def downgrade() -> None:
    with op.batch_alter_table("version") as batch:
        batch.drop_column("jobs_left")
