"""`axiomd db upgrade` builds the schema from nothing, again harmlessly, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import Base


def test_upgrade_from_empty_reaches_head(db_url: str) -> None:
    """An empty database gets the whole schema."""
    engine = make_engine(db_url)
    before, after = schema.upgrade(engine)
    assert (before, after) == (None, schema.head_revision())
    engine.dispose()


def test_upgrade_twice_changes_nothing(db_url: str) -> None:
    """Running the upgrade again is a no-op."""
    engine = make_engine(db_url)
    schema.upgrade(engine)
    before, after = schema.upgrade(engine)
    assert before == after == schema.head_revision()
    engine.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    """The hand-written migrations and the typed models describe the same tables."""
    engine = make_engine(db_url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()
