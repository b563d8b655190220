"""Creating and upgrading the catalog schema (`axiomd db upgrade`).

Alembic is imported only where the schema is upgraded: it costs about 0.1 s at start,
and nearly every command and daemon only checks that the schema is current.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from axiomd.catalog.backends import backend_for
from axiomd.catalog.db import reachable

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

_MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision. A new migration raises it; tests/unit/test_schema_head.py
# fails until it does.
HEAD = "0006"


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to the newest (or the given) revision; safe to run again and
    concurrently."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = _alembic_config()
    with reachable(engine), engine.begin() as conn:
        backend_for(conn).serialise_upgrades(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after or ""


def current_revision(engine: Engine) -> str | None:
    """The revision alembic recorded (its `alembic_version` row); None before the first
    upgrade. Read with plain SQL: nearly every command checks it, and importing
    alembic's migration runtime for that cost ~0.1 s of each start."""
    with reachable(engine), engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return ",".join(sorted(rows)) or None  # several rows (alembic refuses those): never HEAD


def head_revision() -> str:
    return HEAD


def migrations_head() -> str:
    """The newest revision as alembic reads it from the migration scripts (`HEAD`'s check)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head
