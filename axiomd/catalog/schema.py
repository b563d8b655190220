"""Creating and upgrading the catalog schema (`axiomd db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from axiomd.catalog.backends import backend_for
from axiomd.catalog.db import reachable

_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to the newest (or the given) revision; safe to run again and
    concurrently."""
    cfg = _alembic_config()
    with reachable(engine), engine.begin() as conn:
        backend_for(conn).serialise_upgrades(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after or ""


def current_revision(engine: Engine) -> str | None:
    with reachable(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head
