"""An idle embedded worker hears of another process's commit instead of waiting out its poll."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from axiomd.catalog.changes import SQLiteCommitWatch, commit_watch
from axiomd.catalog.db import make_engine


def _catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE job (id INTEGER PRIMARY KEY)")
    return path


def _commit(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO job DEFAULT VALUES")


def test_a_commit_by_another_connection_ends_the_wait(tmp_path: Path) -> None:
    path = _catalog(tmp_path)
    watch = commit_watch(make_engine(f"sqlite:///{path}"))
    _commit(path)
    assert watch.wait(threading.Event(), 60) is True


def test_each_commit_ends_one_wait(tmp_path: Path) -> None:
    path = _catalog(tmp_path)
    watch = commit_watch(make_engine(f"sqlite:///{path}"))
    _commit(path)
    watch.wait(threading.Event(), 60)
    assert watch.wait(threading.Event(), 0.1) is False


def test_a_stopped_worker_does_not_wait(tmp_path: Path) -> None:
    watch = commit_watch(make_engine(f"sqlite:///{_catalog(tmp_path)}"))
    stop = threading.Event()
    stop.set()
    assert watch.wait(stop, 60) is False


def test_the_watch_never_creates_a_catalog(tmp_path: Path) -> None:
    watch = commit_watch(make_engine(f"sqlite:///{tmp_path / 'nowhere.db'}"))
    assert not isinstance(watch, SQLiteCommitWatch)
    assert not (tmp_path / "nowhere.db").exists()


def test_postgresql_keeps_the_plain_poll() -> None:
    watch = commit_watch(make_engine("postgresql://nobody@127.0.0.1:1/none"))
    assert not isinstance(watch, SQLiteCommitWatch)
    assert watch.wait(threading.Event(), 0.01) is False
