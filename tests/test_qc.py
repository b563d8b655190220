"""Technical QC against a show's delivery spec: warnings kept, or the version refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from axiomd.app import App
from axiomd.catalog import jobs, schema
from axiomd.catalog.versions import get_version
from axiomd.config import load_config
from axiomd.qc import QcSpec, qc_findings, sequence_findings
from tests.helpers import (
    ASSET,
    ingest,
    run_all_jobs,
)

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
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path,
        clip: Callable[..., Path]) -> None:
    """Policy warn: the version completes and its media carries the findings."""
    app = _app(write_config, sqlite_url, "warn")
    ingest(app, clip(tmp_path / f"{ASSET}_v001.mov", size="1280x720", rate=25, seconds=1))
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "complete"
    assert version.media is not None
    assert version.media["qc"]["warnings"] == [
        "fps is 25.0 (spec for TST: 24)", "width is 1280 (spec for TST: 1920)",
        "height is 720 (spec for TST: 1080)"]


def test_off_spec_version_fails_under_reject_policy_with_the_reason(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path,
        clip: Callable[..., Path]) -> None:
    """Policy reject: the probe job fails for good and the version says why."""
    app = _app(write_config, sqlite_url, "reject")
    ingest(app, clip(tmp_path / f"{ASSET}_v001.mov", size="1280x720", rate=24, seconds=1))
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "failed"
    assert version.error is not None and "width is 1280" in version.error
    [job] = jobs.list_jobs(app.engine, "failed")
    assert job.attempts == 1


def test_still_gets_no_fps_finding() -> None:
    """A JPG or a single EXR has no frame rate to be wrong about."""
    media = {"kind": "still", "frames": 1, "width": 1920, "height": 1080}
    assert qc_findings(media, QcSpec("TST", {"fps": 24, "width": 1920})) == []


def test_vfr_clip_is_reported_as_vfr_not_as_its_average() -> None:
    media = {"kind": "movie", "fps": 46.154, "vfr": True}
    assert qc_findings(media, QcSpec("TST", {"fps": 24})) == [
        "fps is variable (VFR, average 46.154) (spec for TST: 24)"]


def test_rotated_clip_is_judged_by_what_the_viewer_sees() -> None:
    media = {"width": 1920, "height": 1080, "display_width": 1080, "display_height": 1920,
             "rotation": 90}
    assert qc_findings(media, QcSpec("TST", {"width": 1920, "height": 1080})) == [
        "width is 1080 (spec for TST: 1920)", "height is 1920 (spec for TST: 1080)"]


def test_audio_file_gets_no_video_findings() -> None:
    media = {"kind": "audio", "streams": [{"type": "audio", "codec": "pcm_s24le"}]}
    assert qc_findings(media, QcSpec("TST", {"fps": 24, "width": 1920, "codec": "prores"})) == []


def test_pixel_format_matches_what_the_file_stores() -> None:
    """An EXR decoded as float but stored as half passes a `half` spec."""
    media = {"pixel_type": "half", "streams": [{"type": "video", "pix_fmt": "gbrpf32le"}]}
    assert qc_findings(media, QcSpec("TST", {"pix_fmt": "half"})) == []
    assert qc_findings(media, QcSpec("TST", {"pix_fmt": "float"})) == [
        "pix_fmt is gbrpf32le (half in the file) (spec for TST: float)"]


def test_a_sequence_gap_is_a_finding() -> None:
    assert sequence_findings([1006]) == [
        "sequence is missing 1 frame (1006); the proxy holds the previous frame there"]
    assert sequence_findings([]) == []
