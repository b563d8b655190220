"""Several watcher hosts on one drop root: every file once, in order, nothing stranded.

Each "host" is a watcher process in its own UTS namespace with its own hostname,
sharing the drop root, the store and the PostgreSQL catalog.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import asset_t, version_t
from tests.helpers import Daemon, nothing_claimed, run_cli, started, wait_for

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


def claimed_files(drop: Path) -> list[Path]:
    return [p for p in (drop / ".axiomd" / "claims").glob("*/*")
            if p.is_file() and p.name != "claims.jsonl"]


def burst(drop: Path, count: int) -> list[str]:
    names = [f"TST_SQ020_SH{i:04d}_comp_v001.mov" for i in range(count)]
    for name in names:
        (drop / name).write_bytes(name.encode() * 4096)
    return names


def test_a_dead_hosts_claims_are_adopted_by_a_live_watcher(
        write_config: Callable[..., Path], daemons: Callable[..., Daemon], pg_url: str,
        tmp_path: Path) -> None:
    """hostB is killed for good while it holds claims; hostA finishes or returns them all."""
    config = write_config(pg_url, settle=0.2, extra_watch="adopt_after_seconds = 3")
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    drop = tmp_path / "drop" / "comp"
    names = burst(drop, 400)
    host_b = started(daemons(config, "watch", host="hostb"))
    wait_for(lambda: claimed_files(drop), 30, "hostb to hold claims")
    host_b.kill()
    held = len(claimed_files(drop))
    report = json.loads(run_cli("status", "--json", config=config).stdout)
    [(process, files)] = report["claimed"]["comp"].items()
    assert process.startswith("hostb.") and files == held
    host_a = started(daemons(config, "watch", host="hosta"))
    wait_for(lambda: len(stored(engine)) == len(names), 120, "every file to be a version")
    wait_for(lambda: not claimed_files(drop), 10, "no claim left behind")
    assert held > 0
    assert any(e.get("event") == "watch.adopted" for e in host_a.events())
    assert not (drop / "_rejected").exists() and not (drop / "_duplicates").exists()
    assert sorted(original for _, _, original in stored(engine)) == sorted(names)


def test_a_restart_with_the_same_host_and_pid_recovers_its_predecessors_claims(
        write_config: Callable[..., Path], daemons: Callable[..., Daemon], pg_url: str,
        tmp_path: Path) -> None:
    """A container's main process is PID 1 at every start: its last life's claims are not
    mistaken for its own live ones."""
    config = write_config(pg_url, settle=0.2)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    drop = tmp_path / "drop" / "comp"
    names = burst(drop, 400)
    first = started(daemons(config, "watch", host="hostc", pid_one=True))
    wait_for(lambda: claimed_files(drop), 30, "the watcher to hold claims")
    first.kill()
    assert claimed_files(drop)
    started(daemons(config, "watch", host="hostc", pid_one=True))
    wait_for(lambda: len(stored(engine)) == len(names), 120, "every file to be a version")
    wait_for(lambda: not claimed_files(drop), 10, "no claim left behind")
    assert sorted(original for _, _, original in stored(engine)) == sorted(names)
