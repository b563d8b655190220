"""`axiomd show` lists what the version's jobs made, as the README promises."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.config import load_config
from tests.helpers import (
    ALL_JOBS,
    ASSET,
    ingest,
    make_clip,
    run_all_jobs,
    run_cli,
)


def _complete_version(write_config: Callable[..., Path], sqlite_url: str,
                      tmp_path: Path) -> tuple[Path, App]:
    config = write_config(sqlite_url, jobs=ALL_JOBS)
    app = App(load_config(config))
    schema.upgrade(app.engine)
    ingest(app, make_clip(tmp_path / f"{ASSET}_v001.mov", size="320x240", seconds=1))
    run_all_jobs(app)
    return config, app


def test_show_json_lists_the_proxy_and_thumbnail_with_store_paths(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """`show --json` has `outputs`: preset, kind, store path and the file's full path."""
    config, app = _complete_version(write_config, sqlite_url, tmp_path)
    shown = json.loads(run_cli("show", ASSET, "v001", "--json", config=config,
                               check=True).stdout)
    by_kind = {o["kind"]: o for o in shown["outputs"]}
    assert set(by_kind) == {"proxy", "thumbnail"}
    proxy = by_kind["proxy"]
    assert proxy["preset"] == "proxy_h264"
    assert proxy["store_path"].endswith("v001/proxy/TST_SQ010_SH0010_comp_v001.mp4")
    assert Path(proxy["path"]) == app.store.path(proxy["store_path"])
    assert Path(by_kind["thumbnail"]["path"]).is_file()


def test_show_prints_each_output_on_its_own_line(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """The table names the proxy and the thumbnail by preset, with the stored file."""
    config, _ = _complete_version(write_config, sqlite_url, tmp_path)
    out = run_cli("show", ASSET, "v001", config=config, check=True).stdout
    lines = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.strip()}
    assert lines["proxy_h264"].endswith("proxy/TST_SQ010_SH0010_comp_v001.mp4")
    assert lines["thumbnail"].endswith("thumb/TST_SQ010_SH0010_comp_v001.jpg")
