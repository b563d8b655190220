"""PostgreSQL prepared statements for the hot paths: a worker's and a watcher's.

A no-op job costs a worker two statements: the claim and the finish. As SQLAlchemy text
in a transaction each cost about 0.4 ms of the worker's CPU and three round trips, and
PostgreSQL planned the CTE afresh every time. Prepared once per session and run in
autocommit on the pooled driver connection, each costs under 0.1 ms, one round trip and
no planning. That is what lets four workers keep up with RabbitMQ (bench/queue.py).
`run` is for statements atomic on their own; `run_in` runs one inside a transaction
(a watcher numbering a chunk of files: one or two statements a file, a thousand files
a second).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from psycopg2.extras import Json, NamedTupleCursor
from sqlalchemy.engine import Connection, Engine

from axiomd.catalog.db import DRIVER_ERRORS, retrying

_PARAM = re.compile(r"(?<!:):(\w+)")


class Prepared:
    """One statement with `:name` parameters, prepared as `name` with `$n` ones."""

    def __init__(self, name: str, sql: str) -> None:
        self.name = name
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in self.names:
                self.names.append(match[1])
            return f"${self.names.index(match[1]) + 1}"

        self.prepare = f"PREPARE {name} AS {_PARAM.sub(number, sql)}"
        self.execute = f"EXECUTE {name}({', '.join(['%s'] * len(self.names))})"

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(Json(v) if isinstance(v, dict) else v
                     for v in (params[name] for name in self.names))

    def run_on(self, cursor: Any, info: dict[str, Any], params: Mapping[str, Any]) -> Any:
        """Run on `cursor`, preparing first if this session has not; the first row."""
        self.execute_on(cursor, info, params)
        return cursor.fetchone()

    def execute_on(self, cursor: Any, info: dict[str, Any], params: Mapping[str, Any]) -> None:
        done: set[str] = info.setdefault("axiomd.prepared", set())
        if self.name not in done:
            cursor.execute(self.prepare)  # a failure leaves nothing half prepared
            done.add(self.name)
        cursor.execute(self.execute, self.values(params))


def run(engine: Engine, statement: Prepared, params: Mapping[str, Any]) -> Any:
    """Run `statement` on its own and return its first row (a named tuple) or None.

    Retried like any transaction when it lost a race or its connection dropped.
    """
    for attempt in retrying():
        with attempt:
            return _run_once(engine, statement, params)
    raise AssertionError("unreachable")


def run_in(conn: Connection, statement: Prepared, params: Mapping[str, Any]) -> Any:
    """Run `statement` in `conn`'s transaction; its first row (a tuple) or None."""
    pooled = conn.connection
    with pooled.dbapi_connection.cursor() as cursor:
        return statement.run_on(cursor, pooled.info, params)


def run_all_in(conn: Connection, statement: Prepared, params: Mapping[str, Any]) -> list[Any]:
    """Run `statement` in `conn`'s transaction; every row it returns (tuples)."""
    pooled = conn.connection
    with pooled.dbapi_connection.cursor() as cursor:
        statement.execute_on(cursor, pooled.info, params)
        return cursor.fetchall()


def _run_once(engine: Engine, statement: Prepared, params: Mapping[str, Any]) -> Any:
    pooled = engine.raw_connection()
    session = pooled.dbapi_connection
    try:
        session.autocommit = True
        with session.cursor(cursor_factory=NamedTupleCursor) as cursor:
            return statement.run_on(cursor, pooled.info, params)
    except DRIVER_ERRORS:
        if session.closed:
            pooled.invalidate()
        raise
    finally:
        if not session.closed:
            session.autocommit = False
        pooled.close()
