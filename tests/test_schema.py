"""`axiomd db upgrade` builds the schema from nothing, again harmlessly, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import Base, version_t


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


def test_upgrade_to_0002_counts_the_jobs_each_version_has_left(db_url: str) -> None:
    """A catalog made before the counter existed gets it from the jobs' states."""
    engine = make_engine(db_url)
    schema.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO asset (id, name, naming, identity, latest_number, created_at) "
            "VALUES (1, 'A', 'shot', '{}', 2, CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO version (id, asset_id, number, status, store_path, original_name, "
            "checksum, size, submitted_by, origin_host, origin_path, created_at) VALUES "
            "(1, 1, 1, 'processing', 'a', 'a', 'x', 1, '', '', '', CURRENT_TIMESTAMP), "
            "(2, 1, 2, 'complete', 'b', 'b', 'y', 1, '', '', '', CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO job (version_id, preset, kind, status, attempts, available_at, "
            "created_at) VALUES (1, 'p', 'probe', 'done', 1, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP), (1, 't', 'thumbnail', 'failed', 3, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP), (1, 'x', 'proxy', 'queued', 0, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP), (2, 'p', 'probe', 'done', 1, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)"))
    schema.upgrade(engine)
    with engine.connect() as conn:
        left = dict(conn.execute(select(version_t.c.id, version_t.c.jobs_left)).all())
    assert left == {1: 2, 2: 0}
    engine.dispose()
