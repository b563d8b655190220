"""Technical QC against a show's delivery spec: warnings kept, or the version refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from axiomd.app import App
from axiomd.catalog import jobs, schema
from axiomd.catalog.versions import get_version
from axiomd.config import load_config
from axiomd.qc import QcSpec, qc_findings
from tests.test_media import ASSET, ingest, make_clip, run_all_jobs

SPEC = """
[qc.TST]
fps = 24
width = 1920
height = 1080
policy = "{policy}"
"""


def test_matching_media_has_no_findings() -> None:
    media = {"fps": 24.0, "width": 1920, "height": 1080, "video_codec": "prores"}
    assert qc_findings(media, QcSpec("TST", {"fps": 24, "width": 1920, "codec": "prores"})) == []


def test_each_difference_is_one_readable_line() -> None:
    media = {"fps": 25.0, "width": 1280, "height": 720}
    findings = qc_findings(media, QcSpec("TST", {"fps": 24, "width": 1920, "height": 1080}))
    assert findings == ["fps is 25.0 (spec for TST: 24)", "width is 1280 (spec for TST: 1920)",
                        "height is 720 (spec for TST: 1080)"]


def _app(write_config: Callable[..., Path], db_url: str, policy: str) -> App:
    app = App(load_config(write_config(db_url, extra=SPEC.format(policy=policy))))
    schema.upgrade(app.engine)
    return app


def test_off_spec_version_completes_with_qc_warnings_stored(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """Policy warn: the version completes and its media carries the findings."""
    app = _app(write_config, sqlite_url, "warn")
    ingest(app, make_clip(tmp_path / f"{ASSET}_v001.mov", size="1280x720", rate=25))
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "complete"
    assert version.media is not None
    assert version.media["qc"]["warnings"] == [
        "fps is 25.0 (spec for TST: 24)", "width is 1280 (spec for TST: 1920)",
        "height is 720 (spec for TST: 1080)"]


def test_off_spec_version_fails_under_reject_policy_with_the_reason(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """Policy reject: the probe job fails for good and the version says why."""
    app = _app(write_config, sqlite_url, "reject")
    ingest(app, make_clip(tmp_path / f"{ASSET}_v001.mov", size="1280x720", rate=24))
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "failed"
    assert version.error is not None and "width is 1280" in version.error
    [job] = jobs.list_jobs(app.engine, "failed")
    assert job.attempts == 1
