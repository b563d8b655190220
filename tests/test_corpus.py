"""A hostile drop folder, made by code: every file gets a clear answer, nothing runs."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import version_t
from tests.helpers import Daemon, wait_for

GOOD = "TST_SQ010_SH0010_comp_v001.mov"

# Names that must be refused with a note in _rejected/.
HOSTILE = [
    "TST_SQ010_SH0010_cömp_v001.mov",
    "TST SQ010 SH0010 comp v001.mov",
    "$(touch CANARY)_SQ010_SH0010_comp_v001.mov",
    "`touch CANARY`.mov",
    "TST;touch CANARY;_v001.mov",
    "TST_SQ010_SH0010_comp_v001\n.mov",
    "TST_SQ010_SH0010_" + "x" * 200 + "_v001.mov",
    "TST_SQ010_SH0010_comp_v001..mov",
    "'; DROP TABLE version; --.mov",
    "%s%n%x_SQ010.mov",
]


def build_corpus(drop: Path, outside: Path) -> None:
    for name in HOSTILE:
        (drop / name).write_bytes(b"hostile")
    (drop / "TST_SQ010_SH0011_comp_v001.mov").write_bytes(b"")  # zero bytes, good name
    locked = drop / "TST_SQ010_SH0012_comp_v001.mov"
    locked.write_bytes(b"locked")
    locked.chmod(0)
    os.mkfifo(drop / "TST_SQ010_SH0013_comp_v001.mov")
    os.mknod(drop / "TST_SQ010_SH0014_comp_v001.mov", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    (drop / "escape.mov").symlink_to(outside)
    (drop / GOOD).write_bytes(b"good")


def test_hostile_corpus_gets_clear_answers_and_executes_nothing(
        tmp_path: Path, write_config: Callable[..., Path], pg_url: str,
        daemons: Callable[..., Daemon]) -> None:
    config = write_config(pg_url)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    drop = tmp_path / "drop" / "comp"
    outside = tmp_path / "outside.mov"
    outside.write_bytes(b"not in any drop folder")
    build_corpus(drop, outside)
    watcher = daemons(config, "watch")

    def rejected() -> set[str]:
        folder = drop / "_rejected"
        return {p.name for p in folder.iterdir() if not p.name.endswith(".rejected.txt")} \
            if folder.exists() else set()

    special = {"TST_SQ010_SH0013_comp_v001.mov", "TST_SQ010_SH0014_comp_v001.mov"}
    wait_for(lambda: set(HOSTILE) | special <= rejected(), 60,
             "every hostile name, the FIFO and the device node in _rejected/")
    def stored_names() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(select(version_t.c.original_name)).scalars())

    expected = {GOOD, "TST_SQ010_SH0012_comp_v001.mov"}
    wait_for(lambda: stored_names() == expected, 30,
             "the good and the unreadable-mode file as versions")
    assert (drop / "TST_SQ010_SH0011_comp_v001.mov").exists()  # empty: a copy not yet begun
    for name in HOSTILE:
        note = drop / "_rejected" / f"{name}.rejected.txt"
        assert note.exists() and "Why:" in note.read_text()
    assert (drop / "escape.mov").is_symlink()
    assert outside.read_bytes() == b"not in any drop folder"
    assert not list(tmp_path.rglob("CANARY")) and not (Path.cwd() / "CANARY").exists()
    assert watcher.proc.poll() is None
    engine.dispose()
