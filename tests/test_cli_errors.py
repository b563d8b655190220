"""The command line answers every mistake in one line (JSON under --json), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.versions import allocate_version
from tests.helpers import PROBE, new_version, run_cli


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path) -> Path:
    return write_config(f"sqlite:///{tmp_path / 'catalog.db'}")


@pytest.fixture
def catalog(config: Path, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_version_prints_the_installed_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("axiomd ")


def test_config_and_json_may_follow_the_command(config: Path, catalog: str) -> None:
    result = run_cli("assets", "--config", str(config), "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_status_before_db_upgrade_says_to_run_it(config: Path) -> None:
    result = run_cli("status", config=config)
    no_traceback(result)
    assert result.returncode == 1 and "run `axiomd db upgrade`" in result.stdout


def test_a_command_before_db_upgrade_says_to_run_it(config: Path) -> None:
    result = run_cli("versions", "TST_SQ010_SH0010_comp", config=config)
    no_traceback(result)
    assert result.returncode == 2 and "run `axiomd db upgrade`" in result.stderr


def test_an_unparsable_database_url_is_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[database]\nurl = "postgresql://axiom:p@ss@db:54x/axiom"\n')
    result = run_cli("status", config=bad)
    no_traceback(result)
    assert result.returncode == 2 and "database.url: cannot be read" in result.stderr
    assert "p@ss" not in result.stderr


def test_errors_under_json_are_json(config: Path, catalog: str) -> None:
    result = run_cli("show", "TST_SQ010_SH0010_comp", "v001", "--json", config=config)
    assert result.returncode == 1
    assert "no asset named" in json.loads(result.stdout)["error"]


def test_retry_and_db_current_speak_json(config: Path, catalog: str) -> None:
    retried = run_cli("retry", "--failed", "--json", config=config)
    assert json.loads(retried.stdout) == {"requeued": [], "not_failed": []}
    current = json.loads(run_cli("db", "current", "--json", config=config).stdout)
    assert current["up_to_date"] is True


def test_json_times_are_utc_with_a_z(config: Path, catalog: str) -> None:
    engine = make_engine(catalog)
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    engine.dispose()
    [version] = json.loads(run_cli("versions", "TST_SQ010_SH0010_comp", "--json",
                                   config=config).stdout)
    assert version["created_at"].endswith("Z")


def test_output_cut_short_by_head_is_not_an_error(config: Path, catalog: str) -> None:
    engine = make_engine(catalog)
    for _ in range(400):
        allocate_version(engine, new_version(), PROBE, with_outbox=False)
    engine.dispose()
    writer = subprocess.Popen(
        [sys.executable, "-m", "axiomd", "--config", str(config), "versions",
         "TST_SQ010_SH0010_comp", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.read(100)
    writer.stdout.close()  # the reader leaves, as `head -c 100` does
    errors = writer.stderr.read().decode()
    writer.wait(timeout=60)
    assert "Traceback" not in errors and "BrokenPipe" not in errors
