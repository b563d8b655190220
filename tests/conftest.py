"""Shared fixtures: a fresh PostgreSQL database, a fresh RabbitMQ vhost, a config on disk.

The services are real. If one is down the tests fail loudly rather than skip: a green run
must mean the behaviour was checked against PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import Engine

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.config import Config, load_config
from tests.helpers import (
    ALL_JOBS,
    AMQP_BASE,
    PG_ADMIN,
    Daemon,
    MadeAhead,
    config_file,
    delete_vhost,
    drop_database,
    make_clip,
    make_database,
    make_vhost,
    noop_preset,
)


def _pg_admin() -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(PG_ADMIN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN}: {exc}")
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def databases() -> Iterator[MadeAhead]:
    made = MadeAhead("databases", make_database, drop_database)
    yield made
    made.close()


@pytest.fixture
def pg_url(databases: MadeAhead) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for this test alone, dropped afterwards."""
    _pg_admin().close()
    name = databases.take()
    yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    databases.give_back(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same behaviour checked on both catalogs."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()




@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file into tmp_path (drop root `comp`, store `store/`) and return it."""

    def write(db_url: str, broker_url: str = "", extra: str = "", **overrides: object) -> Path:
        return config_file(tmp_path, db_url, broker_url, extra, **overrides)

    return write


@pytest.fixture
def config(write_config: Callable[..., Path], db_url: str) -> Config:
    return load_config(write_config(db_url))


@pytest.fixture(scope="session")
def vhosts() -> Iterator[MadeAhead]:
    made = MadeAhead("vhosts", make_vhost, delete_vhost)
    yield made
    made.close()


@pytest.fixture
def broker_url(vhosts: MadeAhead) -> Iterator[str]:
    """A RabbitMQ vhost of this test's own (never used before), deleted afterwards."""
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(f"{AMQP_BASE}/%2F")).close()
    except Exception as exc:
        pytest.fail(f"RabbitMQ is required for the tests and is not reachable: {exc}")
    vhost = vhosts.take()
    yield f"{AMQP_BASE}/{vhost}"
    vhosts.give_back(vhost)


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    """Start axiomd daemons; every one still running is stopped after the test."""
    started: list[Daemon] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None,
              host: str | None = None, pid_one: bool = False) -> Daemon:
        daemon = Daemon(config, *args, env=env, host=host, pid_one=pid_one)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:  # all told at once: they shut down side by side
        daemon.terminate()
    for daemon in started:
        daemon.stop()


@pytest.fixture
def noop_pipeline(write_config: Callable[..., Path], pg_url: str, broker_url: str,
          tmp_path: Path) -> Callable[..., tuple[Path, Engine]]:
    """A config on PostgreSQL + this test's vhost, jobs of kind noop, schema ready."""

    def make(sleep: float = 0.0, fail: str | None = None, broker: str | None = None,
             **overrides: object) -> tuple[Path, Engine]:
        overrides.setdefault("jobs", '["noop"]')
        path = write_config(pg_url, broker or broker_url, extra=noop_preset(sleep, fail),
                            **overrides)
        engine = make_engine(pg_url)
        schema.upgrade(engine)
        return path, engine

    return make


@pytest.fixture
def app(write_config: Callable[..., Path], sqlite_url: str) -> Iterator[App]:
    """An embedded catalog (SQLite) with the three media jobs, schema ready."""
    application = App(load_config(write_config(sqlite_url, jobs=ALL_JOBS)))
    schema.upgrade(application.engine)
    yield application
    application.close()


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`make_clip(dest, ...)`, each distinct clip encoded once per run: encoding is the
    slow part, and every test gets a copy of its own to move, cut or ingest."""
    folder = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def copy_of(dest: Path, **options: object) -> Path:
        key = f"{dest.suffix} {sorted(options.items())}"
        if key not in made:
            made[key] = make_clip(folder / f"{len(made)}{dest.suffix}", **options)  # type: ignore[arg-type]
        shutil.copyfile(made[key], dest)
        return dest

    return copy_of
