"""The command line a pipeline TD uses, run as a real process against both catalogs."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.helpers import run_cli

ASSET = "TST_SQ010_SH0010_comp"


@pytest.fixture
def cfg(write_config: Callable[..., Path], db_url: str, engine: Engine) -> Path:
    """A config on this test's catalog, its schema made in-process (by `engine`) rather
    than by one more `axiomd db upgrade` process per test."""
    return write_config(db_url)


def _file(tmp_path: Path, name: str, content: bytes | None = None) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content if content is not None else os.urandom(4096))
    return path


def test_ingest_stores_a_read_only_copy_and_prints_the_version(cfg: Path, tmp_path: Path) -> None:
    """`axiomd ingest` versions the file; the stored copy is identical and read-only."""
    source = _file(tmp_path, f"{ASSET}_v001.mov")
    result = run_cli("ingest", str(source), config=cfg, check=True)
    assert f"{ASSET} v001" in result.stdout
    stored = tmp_path / "store/TST/SQ010/SH0010/comp/v001" / source.name
    assert stored.read_bytes() == source.read_bytes()
    assert not stored.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert source.exists()


def test_ingest_of_a_badly_named_file_exits_1_naming_the_field(cfg: Path, tmp_path: Path) -> None:
    """A rejected name is exit code 1 with the field and an example in the message."""
    result = run_cli("ingest", str(_file(tmp_path, "TST_SQ010_SH10_comp_v001.mov")), config=cfg)
    assert result.returncode == 1
    assert "field 'shot'" in result.stderr and "Example of a good name" in result.stderr


def test_ingest_of_same_content_twice_reports_the_duplicate(cfg: Path, tmp_path: Path) -> None:
    """The second ingest of identical bytes names the version it duplicates."""
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v001.mov", b"same")), config=cfg, check=True)
    result = run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v002.mov", b"same")),
                     "--json", config=cfg)
    assert result.returncode == 1
    assert json.loads(result.stdout)["duplicate_of"] == "v001"


def test_versions_json_has_the_documented_shape(cfg: Path, tmp_path: Path) -> None:
    """`versions --json` lists label, number, status, parent, checksum, store path, times."""
    content = b"frame data"
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v001.mov", content)), config=cfg, check=True)
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v002.mov")), config=cfg, check=True)
    rows = json.loads(run_cli("versions", ASSET, "--json", config=cfg, check=True).stdout)
    assert [r["version"] for r in rows] == ["v001", "v002"]
    first = rows[0]
    assert {"asset", "version", "number", "status", "parent", "checksum", "store_path",
            "created_at", "completed_at"} <= set(first)
    assert first["checksum"] == hashlib.sha256(content).hexdigest()
    assert rows[1]["parent"] == "v001"


def test_derive_makes_a_new_version_from_an_old_one(cfg: Path, tmp_path: Path) -> None:
    """Rollback: v003 gets v001's content and v001 as parent; v001 and v002 stay untouched."""
    first = _file(tmp_path, f"{ASSET}_v001.mov", b"one")
    run_cli("ingest", str(first), config=cfg, check=True)
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v002.mov", b"two")), config=cfg, check=True)
    out = json.loads(run_cli("derive", ASSET, "--from", "v001", "--json", config=cfg,
                             check=True).stdout)
    assert (out["version"], out["parent"]) == ("v003", "v001")
    assert (tmp_path / "store" / out["store_path"]).read_bytes() == b"one"
    assert (tmp_path / "store/TST/SQ010/SH0010/comp/v002" / f"{ASSET}_v002.mov").read_bytes() == b"two"


def test_lineage_shows_the_tree(cfg: Path, tmp_path: Path) -> None:
    """`lineage --json` nests each version under its parent."""
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v001.mov")), config=cfg, check=True)
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v002.mov")), config=cfg, check=True)
    run_cli("derive", ASSET, "--from", "v001", config=cfg, check=True)
    tree = json.loads(run_cli("lineage", ASSET, "--json", config=cfg, check=True).stdout)
    assert tree[0]["version"] == "v001"
    assert [c["version"] for c in tree[0]["children"]] == ["v002", "v003"]
    text = run_cli("lineage", ASSET, config=cfg, check=True).stdout
    assert "v003" in text and "(from v001)" in text


def test_assets_lists_each_asset_with_its_latest_version(cfg: Path, tmp_path: Path) -> None:
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v001.mov")), config=cfg, check=True)
    rows = json.loads(run_cli("assets", "--json", config=cfg, check=True).stdout)
    assert rows == [{**rows[0], "asset": ASSET, "latest": "v001", "versions": 1}]
    assert ASSET in run_cli("assets", config=cfg, check=True).stdout


def test_unknown_asset_exits_1(cfg: Path) -> None:
    result = run_cli("versions", "NOPE_SQ010_SH0010_comp", config=cfg)
    assert result.returncode == 1
    assert "no asset named" in result.stderr


def test_command_before_db_upgrade_says_what_to_run(write_config: Callable[..., Path],
                                                    sqlite_url: str) -> None:
    """An empty catalog is a setup problem with the fix in the message."""
    result = run_cli("assets", config=write_config(sqlite_url))
    assert result.returncode == 2
    assert "axiomd db upgrade" in result.stderr


def test_unknown_command_is_a_usage_error(cfg: Path) -> None:
    assert run_cli("frobnicate", config=cfg).returncode == 2


def test_ingest_the_store_refuses_after_commit_says_so_and_the_next_run_publishes_it(
        cfg: Path, tmp_path: Path) -> None:
    """Something sits where the version folder must go: the version is recorded, the file
    stays staged, the message says what happens next, and the next ingest finishes it."""
    blocker = tmp_path / "store/TST/SQ010/SH0010/comp/v001"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    source = _file(tmp_path, f"{ASSET}_v001.mov")
    result = run_cli("ingest", str(source), config=cfg)
    assert result.returncode == 1
    assert "is recorded" in result.stderr and "next `axiomd ingest`" in result.stderr
    blocker.unlink()
    run_cli("ingest", str(_file(tmp_path, f"{ASSET}_v002.mov")), config=cfg, check=True)
    assert (blocker / source.name).read_bytes() == source.read_bytes()
