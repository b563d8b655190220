"""A small store on a real tmpfs, so tests can fill it or make it read-only (tests run as root)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "store"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", str(store)], check=True)
    yield store
    subprocess.run(["umount", "-l", str(store)], check=False)
