"""PostgreSQL prepared statements, each a transaction of its own, for a worker's hot path.

A no-op job costs a worker two statements: the claim and the finish. Run as SQLAlchemy
text in a transaction, each cost about 0.4 ms of the worker's CPU and three round trips,
and PostgreSQL planned the CTE afresh every time. Prepared once per session and run in
autocommit through the driver, each costs about 0.15 ms, one round trip and no planning.
That is what lets four workers keep up with RabbitMQ (bench/queue.py).

Only statements that are atomic on their own belong here; anything that reads and then
decides stays in `transaction` on the ordinary engine.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

from psycopg2.extras import Json
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Row

from axiomd.catalog.db import make_engine, transaction

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


_AUTOCOMMIT: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _autocommit(engine: Engine) -> Engine:
    """A small engine beside `engine` whose connections run each statement as a transaction."""
    if engine not in _AUTOCOMMIT:
        own = make_engine(engine.url.render_as_string(hide_password=False), pool_size=2,
                          isolation_level="AUTOCOMMIT")
        event.listen(engine, "engine_disposed", lambda _conn: own.dispose())
        _AUTOCOMMIT[engine] = own
    return _AUTOCOMMIT[engine]


def run(engine: Engine, statement: Prepared, params: Mapping[str, Any]) -> Row[Any] | None:
    """Run `statement` on its own and return its first row (or None); retried like any
    transaction when it lost a race or the connection dropped."""
    values = tuple(Json(v) if isinstance(v, dict) else v
                   for v in (params[name] for name in statement.names))

    def work(conn: Connection) -> Row[Any] | None:
        session = conn.connection.info
        if not session.get("axiomd.prepared"):
            for each in Prepared.registry.values():
                conn.exec_driver_sql(each.prepare)
            session["axiomd.prepared"] = True
        return conn.exec_driver_sql(statement.execute, values).first()

    return transaction(_autocommit(engine), work)
