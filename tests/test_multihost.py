"""Several watcher hosts on one drop root: every file once, in order, nothing stranded.

Each "host" is a watcher process in its own UTS namespace with its own hostname,
sharing the drop root, the store and the PostgreSQL catalog.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import asset_t, version_t
from tests.helpers import Daemon, nothing_claimed, started, wait_for

ASSETS = 60


def stored(engine: Engine) -> list[tuple[str, int, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(asset_t.c.name, version_t.c.number, version_t.c.original_name)
            .join(asset_t, asset_t.c.id == version_t.c.asset_id))]


@pytest.mark.parametrize("policy", ["reject", "renumber"])
def test_two_hosts_keep_each_assets_versions_in_order(
        write_config: Callable[..., Path], daemons: Callable[..., Daemon], pg_url: str,
        tmp_path: Path, policy: str) -> None:
    """v001-v003 of many assets dropped at once onto a root two hosts watch: each file is
    stored under the number it carries, none is refused or swapped."""
    config = write_config(pg_url, policy=policy, settle=0.3)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    drop = tmp_path / "drop" / "comp"
    started(daemons(config, "watch", host="hosta"))
    started(daemons(config, "watch", host="hostb"))
    names = [f"TST_SQ010_SH{a:04d}_comp_v{v:03d}.mov" for a in range(ASSETS) for v in (1, 2, 3)]
    random.shuffle(names)
    for name in names:
        (drop / name).write_bytes(name.encode() * 64)
    wait_for(lambda: len(stored(engine)) == len(names), 120, "every file to be a version")
    wait_for(lambda: nothing_claimed(drop), 10, "the watchers to let go of what they claimed")
    rows = stored(engine)
    assert all(original.endswith(f"_v{number:03d}.mov") for _, number, original in rows)
    assert not (drop / "_rejected").exists() and not (drop / "_duplicates").exists()
