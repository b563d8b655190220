"""Config mistakes are reported as one line naming the key; defaults work with no file."""

from __future__ import annotations

from pathlib import Path

import pytest

from axiomd.config import load_config
from axiomd.errors import ConfigError
from tests.helpers import run_cli

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "axiomd.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "axiomd.toml"
    path.write_text(text)
    return path


def test_shipped_config_loads() -> None:
    """The config in the repository is valid and keeps the documented shape."""
    config = load_config(REPO_CONFIG)
    assert config.root("comp").naming == "shot"
    assert config.broker.embedded


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """`store.root` and SQLite paths are relative to the file, not the working directory."""
    config = load_config(_write(tmp_path, '[store]\nroot = "s"\n[database]\nurl = "sqlite:///c.db"\n'))
    assert config.store_root == tmp_path / "s"
    assert config.database_url == f"sqlite:///{tmp_path / 'c.db'}"


def test_environment_overrides_urls(tmp_path: Path) -> None:
    """AXIOMD_DATABASE_URL and AXIOMD_BROKER_URL win over the file."""
    config = load_config(_write(tmp_path, ""), env={
        "AXIOMD_DATABASE_URL": "postgresql://a@h/db", "AXIOMD_BROKER_URL": "amqp://g:g@h/v"})
    assert config.database_url == "postgresql://a@h/db"
    assert not config.broker.embedded


def test_no_config_file_gives_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any file, the catalog is a SQLite file in the data directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    config = load_config(None, env={})
    assert config.database_url == f"sqlite:///{tmp_path / 'axiomd' / 'var' / 'catalog.db'}"
    assert config.broker.embedded


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[watch]\nsettle_seconds = \"two\"\n", "watch.settle_seconds"),
        ("[watch]\nsettle_seconds = -1\n", "watch.settle_seconds"),
        ("[watch]\nsettle_second = 2\n", "watch.settle_second"),
        ("[wacth]\n", "wacth"),
        ("[database]\nurl = \"mysql://x\"\n", "database.url"),
        ("[broker]\nurl = \"redis://x\"\n", "broker.url"),
        ("[[watch.roots]]\nname = \"a\"\npath = \"d\"\nnaming = \"nope\"\n", "watch.roots[0].naming"),
        ("[[watch.roots]]\nname = \"a\"\n", "watch.roots[0].path"),
        ("[naming.shot]\ntemplate = \"{show}\"\nidentity = [\"show\"]\n", "naming.shot"),
        ("[naming.shot]\ntemplate = \"{a}\"\nidentity = [\"a\"]\n[naming.shot.fields]\na = \"[\"\n",
         "naming.shot.fields.a"),
        ("[transcode]\njobs = [\"nope\"]\n", "transcode.jobs"),
        ("[logging]\nformat = \"xml\"\n", "logging.format"),
        ("[worker]\nconcurrency = true\n", "worker.concurrency"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    """Every config mistake names the key that holds it."""
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert f": {key}:" in str(info.value)


def test_invalid_toml_is_reported_with_its_position(tmp_path: Path) -> None:
    """A syntax error says it is not TOML and where."""
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(_write(tmp_path, "[watch\n"))


def test_cli_reports_config_error_in_one_line_with_exit_2(tmp_path: Path) -> None:
    """The CLI never shows a traceback for a config mistake."""
    path = _write(tmp_path, "[watch]\nsettle_seconds = \"two\"\n")
    result = run_cli("assets", config=path)
    assert result.returncode == 2
    assert "watch.settle_seconds" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_config_file_exits_2(tmp_path: Path) -> None:
    """A --config that does not exist is a usage error."""
    result = run_cli("assets", config=tmp_path / "nope.toml")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
