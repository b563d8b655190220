"""PostgreSQL prepared statements, each a transaction of its own, for a worker's hot path.

A no-op job costs a worker two statements: the claim and the finish. As SQLAlchemy text
in a transaction each cost about 0.4 ms of the worker's CPU and three round trips, and
PostgreSQL planned the CTE afresh every time. Prepared once per session and run in
autocommit on the pooled driver connection, each costs under 0.1 ms, one round trip and
no planning. That is what lets four workers keep up with RabbitMQ (bench/queue.py).

Only statements that are atomic on their own belong here; anything that reads and then
decides stays in `transaction`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import psycopg2
from psycopg2.extras import Json, NamedTupleCursor
from sqlalchemy.engine import Engine

from axiomd.catalog.db import DRIVER_ERRORS, retrying

_PARAM = re.compile(r"(?<!:):(\w+)")


class Prepared:
    """One statement with `:name` parameters, prepared as `name` with `$n` ones."""

    registry: ClassVar[dict[str, Prepared]] = {}

    def __init__(self, name: str, sql: str) -> None:
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in self.names:
                self.names.append(match[1])
            return f"${self.names.index(match[1]) + 1}"

        self.prepare = f"PREPARE {name} AS {_PARAM.sub(number, sql)}"
        self.execute = f"EXECUTE {name}({', '.join(['%s'] * len(self.names))})"
        Prepared.registry[name] = self


def run(engine: Engine, statement: Prepared, params: Mapping[str, Any]) -> Any:
    """Run `statement` on its own and return its first row (a named tuple) or None.

    Retried like any transaction when it lost a race or its connection dropped.
    """
    values = tuple(Json(v) if isinstance(v, dict) else v
                   for v in (params[name] for name in statement.names))
    for attempt in retrying():
        with attempt:
            return _run_once(engine, statement, values)
    raise AssertionError("unreachable")


def _run_once(engine: Engine, statement: Prepared, values: tuple[Any, ...]) -> Any:
    pooled = engine.raw_connection()
    session = pooled.dbapi_connection
    try:
        session.autocommit = True
        with session.cursor(cursor_factory=NamedTupleCursor) as cursor:
            if not pooled.info.get("axiomd.prepared"):
                try:
                    for each in Prepared.registry.values():
                        cursor.execute(each.prepare)
                except psycopg2.Error:
                    pooled.invalidate()  # half prepared: the next use gets a new session
                    raise
                pooled.info["axiomd.prepared"] = True
            cursor.execute(statement.execute, values)
            return cursor.fetchone()
    except DRIVER_ERRORS:
        if session.closed:
            pooled.invalidate()
        raise
    finally:
        if not session.closed:
            session.autocommit = False
        pooled.close()
