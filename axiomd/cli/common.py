"""What every command module shares: how it registers, and the schema check."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.db import reachable, redact
from axiomd.errors import ConfigError

Handler = Callable[[App, argparse.Namespace], int]


class Adder(Protocol):
    def __call__(self, name: str, handler: Handler, help: str) -> argparse.ArgumentParser: ...


def require_schema(app: App) -> None:
    """Commands that read or write the catalog say plainly when it is not set up."""
    with reachable(app.engine):
        current = schema.current_revision(app.engine)
    if current is None:
        raise ConfigError(f"catalog {redact(app.config.database_url)} has no schema yet; "
                          "run `axiomd db upgrade`")
    if current != schema.head_revision():
        raise ConfigError(f"catalog {redact(app.config.database_url)} is at schema {current}, "
                          f"this axiomd needs {schema.head_revision()}; run `axiomd db upgrade`")
