"""Connecting to the catalog: PostgreSQL in production, SQLite as the embedded default.

SQLite gets WAL and `BEGIN IMMEDIATE`, so writers queue on the file lock instead of
failing halfway through a transaction; PostgreSQL gets row locks in the queries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import psycopg2
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from axiomd.errors import CatalogUnavailable

T = TypeVar("T")

_PG_RETRY_CODES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock timeout
# What the driver itself raises for a lost race or a lost connection; only
# catalog/prepared.py meets them unwrapped by SQLAlchemy.
DRIVER_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine for `url`; SQLite's folder is created so the first run just works."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 defaults to psycopg 3; axiomd ships with psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    # No pre-ping: a stale pooled connection fails its first statement, is invalidated,
    # and `transaction` runs the work again on a fresh one. One round trip saved per use.
    connect_args = {k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in parsed.query}
    return create_engine(parsed, pool_size=pool_size, max_overflow=pool_size,
                         connect_args=connect_args)


# A connection that goes silent (a firewall dropping idle state, a server host gone) must
# fail, not hang: TCP keepalives probe idle connections, tcp_user_timeout bounds unacked
# sends, connect_timeout bounds the start, and the server cancels statements and lock
# waits that run away. Anything given in the URL's query wins.
PG_CONNECT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
    "options": "-c statement_timeout=600s -c lock_timeout=120s",
}


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_url_is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class LostRace(Exception):
    """A statement found that a concurrent transaction got in first, after it had
    written part of its work: the transaction is done again from the start."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: a lost race, a deadlock, a locked SQLite file, a dropped connection."""
    if isinstance(exc, LostRace):
        return True
    if isinstance(exc, IntegrityError):
        return "uq_version_asset_number" in str(exc.orig) or "version.asset_id" in str(exc.orig)
    if isinstance(exc, OperationalError):
        code = getattr(exc.orig, "pgcode", None)
        return code in _PG_RETRY_CODES or "locked" in str(exc.orig) or exc.connection_invalidated
    if isinstance(exc, DRIVER_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def retrying(attempts: int = 8) -> Retrying:
    """Again from the start after a transient failure, after a short random wait."""
    return Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.005, max=0.5),
        reraise=True,
    )


def transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 8) -> T:
    """Run `work` in one transaction, again from the start if it lost a race."""
    for attempt in retrying(attempts):
        with attempt, engine.begin() as conn:
            return work(conn)
    raise AssertionError("unreachable")


@contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Turn 'cannot connect' into `CatalogUnavailable` with the password left out."""
    try:
        yield
    except OperationalError as exc:
        if _is_connect_failure(exc):
            raw = engine.url.render_as_string(hide_password=False)
            raise CatalogUnavailable(
                f"catalog database {redact(raw)} is unreachable: "
                f"{scrub(_first_line(exc.orig), raw)}"
            ) from exc
        raise


def ping(engine: Engine) -> None:
    with reachable(engine), engine.connect() as conn:
        conn.execute(text("SELECT 1"))


_SECRET_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)


def redact(url: str) -> str:
    """A database or broker URL with every password replaced by `***`.

    Covers `user:pass@` (an unencoded `@` in the password too: the user part runs to the
    last `@` before the query), and password-like query parameters (`password=`,
    `sslpassword=`, …), as libpq and AMQP URLs carry them.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _KEYWORD_SECRET.sub(r"\1***", url)
    rest, qsep, query = rest.partition("?")
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = f"{user}:***{rest[at:]}" if colon else rest
    items = []
    for item in query.split("&") if qsep else []:
        key, eq, _ = item.partition("=")
        items.append(f"{key}=***" if eq and _SECRET_KEY.search(key) else item)
    return f"{scheme}://{rest}{qsep}{'&'.join(items)}"


_KEYWORD_SECRET = re.compile(r"(\b\w*(?:pass|secret|token)\w*\s*=\s*)\S+", re.IGNORECASE)


def secrets_of(url: str) -> list[str]:
    """The passwords in `url` as they could show up in a driver's error message."""
    _, sep, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    found: list[str] = []
    at = rest.rfind("@")
    if sep and at >= 0:
        _, colon, password = rest[:at].partition(":")
        if colon and password:
            found += [password, unquote(password),
                      *(part for part in password.split("@") if len(part) >= 3)]
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if eq and value and _SECRET_KEY.search(key):
            found += [value, unquote(value)]
    return sorted(set(found), key=len, reverse=True)


def scrub(text: str, *urls: str) -> str:
    """`text` (an error message) with every password of `urls` replaced by `***`."""
    for url in urls:
        for secret in secrets_of(url):
            text = text.replace(secret, "***")
    return _KEYWORD_SECRET.sub(r"\1***", text)


def _is_connect_failure(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return exc.connection_invalidated or any(
        s in message for s in ("connection refused", "could not connect", "unable to open",
                               "connection to server", "terminating connection",
                               "server closed the connection", "does not exist",
                               "could not translate host name", "name or service not known",
                               "temporary failure in name resolution", "timeout expired")
    )


def _first_line(exc: object) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
