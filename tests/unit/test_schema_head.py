"""The schema check compares with a constant, so that no command imports alembic for it."""

from axiomd.catalog import schema


def test_the_head_revision_is_the_newest_migration() -> None:
    assert schema.migrations_head() == schema.HEAD
