"""A small store on a real tmpfs, so tests can fill it or make it read-only (tests run as root)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "store"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", str(store)], check=True)
    yield store
    subprocess.run(["umount", "-l", str(store)], check=False)


@contextmanager
def read_only(store: Path) -> Iterator[None]:
    """The store read-only for the duration, writable again afterwards.

    The kernel refuses to remount read-only ("busy") while a file is open for writing,
    which a daemon copying into the store may have at any instant; so ask again briefly.
    """
    _remount(store, "ro")
    try:
        yield
    finally:
        _remount(store, "rw")


def _remount(store: Path, mode: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        done = subprocess.run(["mount", "-o", f"remount,{mode}", str(store)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        if "busy" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(f"mount -o remount,{mode} {store}: {done.stderr.strip()}")
        time.sleep(0.02)
