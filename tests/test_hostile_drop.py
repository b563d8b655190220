"""What artists (or anyone with write access) can do to a drop root, against a real watcher.

Reserved folders replaced by symlinks or files, the claim area deleted under a running
watcher, names at the file system's length limit, look-alike extensions.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from tests.faults.test_hostile_integrity import started, versions
from tests.helpers import Daemon, nothing_claimed, wait_for

GOOD = "TST_SQ010_SH{:04d}_comp_v001.mov"


@pytest.fixture
def env(tmp_path: Path, write_config: Callable[..., Path], pg_url: str
        ) -> Iterator[tuple[Path, Engine, Path]]:
    config = write_config(pg_url, settle=0.3, rescan=2)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    yield config, engine, tmp_path / "drop" / "comp"
    engine.dispose()


def events(daemon: Daemon, name: str) -> list[dict[str, object]]:
    return [e for e in daemon.events() if e.get("event") == name]


def everything_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize("reserved", ["_rejected", ".axiomd"])
def test_reserved_folder_replaced_by_a_symlink_is_never_followed(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon], tmp_path: Path,
        reserved: str) -> None:
    """The link is moved aside and reported, a real folder takes its place, nothing lands
    outside the root."""
    config, engine, drop = env
    outside = tmp_path / "outside"
    outside.mkdir()
    (drop / reserved).symlink_to(outside, target_is_directory=True)
    watcher = started(daemons(config, "watch"))
    (drop / "bad name.mov").write_bytes(b"artist-chosen content")
    (drop / GOOD.format(10)).write_bytes(os.urandom(512))
    wait_for(lambda: versions(engine) and (drop / "_rejected" / "bad name.mov").is_file()
             and nothing_claimed(drop), 30, "the good file versioned and the bad one set aside")
    assert everything_under(outside) == []
    assert (drop / reserved).is_dir() and not (drop / reserved).is_symlink()
    assert events(watcher, "watch.reserved_folder_replaced")
    assert any(p.name.startswith(f"{reserved}.replaced-") for p in drop.iterdir())


def test_reserved_folder_replaced_by_a_plain_file_does_not_strand_the_file(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon]) -> None:
    """`_rejected` as a file: the refused file still reaches a real `_rejected/` with its note."""
    config, _, drop = env
    watcher = started(daemons(config, "watch"))
    (drop / "_rejected").write_text("not a folder")
    (drop / "bad name.mov").write_bytes(b"x" * 100)
    wait_for(lambda: (drop / "_rejected" / "bad name.mov.rejected.txt").is_file(), 30,
             "the rejection note")
    wait_for(lambda: nothing_claimed(drop), 10, "the claim folder to be empty")
    assert events(watcher, "watch.reserved_folder_replaced")


def test_claim_area_deleted_under_a_running_watcher_is_recreated(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon]) -> None:
    """Deleting `<root>/.axiomd` does not stop ingestion."""
    config, engine, drop = env
    started(daemons(config, "watch"))
    (drop / GOOD.format(10)).write_bytes(os.urandom(512))
    wait_for(lambda: len(versions(engine)) == 1, 30, "the first version")
    shutil.rmtree(drop / ".axiomd")
    (drop / GOOD.format(20)).write_bytes(os.urandom(512))
    wait_for(lambda: len(versions(engine)) == 2, 30, "a version after .axiomd was deleted")


def test_root_deleted_and_recreated_under_a_running_watcher_keeps_ingesting(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon]) -> None:
    """A root removed and made again (a share remounted, a folder restored) is taken up again."""
    config, engine, drop = env
    started(daemons(config, "watch"))
    (drop / GOOD.format(10)).write_bytes(os.urandom(512))
    wait_for(lambda: len(versions(engine)) == 1, 30, "the first version")
    shutil.rmtree(drop)
    drop.mkdir()
    (drop / GOOD.format(20)).write_bytes(os.urandom(512))
    wait_for(lambda: len(versions(engine)) == 2, 60, "a version after the root came back")


def test_bad_name_at_the_length_limit_gets_a_note(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon]) -> None:
    """A 254-byte name: `<name>.rejected.txt` would exceed 255 bytes, so the note's is shortened."""
    config, _, drop = env
    started(daemons(config, "watch"))
    name = "x" * 250 + ".mov"
    (drop / name).write_bytes(b"x" * 100)
    wait_for(lambda: (drop / "_rejected" / name).is_file(), 30, "the file set aside")
    notes = list((drop / "_rejected").glob("*.rejected.txt"))
    assert len(notes) == 1 and len(notes[0].name.encode()) <= 255
    assert name in notes[0].read_text()


def test_dotless_i_extension_does_not_pass_as_tif(
        env: tuple[Path, Engine, Path], daemons: Callable[..., Daemon]) -> None:
    """`.t\u0131f` (a dotless i) is not `.tif`: extensions compare ASCII case only."""
    config, engine, drop = env
    started(daemons(config, "watch"))
    (drop / "TST_SQ010_SH0010_comp_v001.t\u0131f").write_bytes(os.urandom(100))
    (drop / "TST_SQ010_SH0020_comp_v001.TIF").write_bytes(os.urandom(100))
    wait_for(lambda: (drop / "_rejected" / "TST_SQ010_SH0010_comp_v001.t\u0131f").is_file()
             and versions(engine), 30, "the look-alike rejected and .TIF accepted")
    assert len(versions(engine)) == 1
