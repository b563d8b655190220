"""Metadata a TD relies on, and the proxy's frame-count check, on media made by ffmpeg."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.config import load_config
from tests.helpers import (
    ALL_JOBS,
    ASSET,
    PICTURE,
    X264,
    ffmpeg,
    outputs,
    versioned,
)

HDR_PARAMS = ("log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:"
              "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
              "L(10000000,1):max-cll=1000,400")


def _app_with_spec(write_config: Callable[..., Path], sqlite_url: str, spec: str) -> App:
    application = App(load_config(write_config(sqlite_url, jobs=ALL_JOBS,
                                               extra=f"[qc.TST]\n{spec}\n")))
    schema.upgrade(application.engine)
    return application


def test_source_cut_short_fails_on_the_proxys_frame_count(app: App, tmp_path: Path) -> None:
    """The header promises 48 frames, 30 arrive and ffmpeg exits 0: the job fails, says so."""
    whole = tmp_path / "whole.mp4"
    ffmpeg(*PICTURE, "-t", "2", *X264, "-movflags", "+faststart", str(whole))
    positions = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                                "-show_entries", "packet=pos", "-of", "csv=p=0", str(whole)],
                               capture_output=True, text=True, check=True).stdout.split()
    cut = tmp_path / f"{ASSET}_v001.mp4"
    cut.write_bytes(whole.read_bytes()[: int(positions[30])])
    version = versioned(app, cut)
    assert version.status == "failed"
    assert version.error is not None
    assert "the proxy has 30 frames, the source 48" in version.error
    assert not list(app.store.root.rglob("proxy/*.mp4"))


def test_variable_frame_rate_is_flagged_and_reported_as_vfr(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """24 frames at 24 fps then 8 at 8 fps: media says VFR, QC says VFR, the version completes."""
    app = _app_with_spec(write_config, sqlite_url, "fps = 24")
    clip = tmp_path / f"{ASSET}_v001.mp4"
    ffmpeg(*PICTURE, "-t", "2", "-vf", "setpts='if(lt(N,24),N/24,1+(N-24)/8)/TB'",
           "-fps_mode", "vfr", *X264, str(clip))
    version = versioned(app, clip)
    assert version.status == "complete", version.error
    assert version.media["vfr"] is True
    [finding] = version.media["qc"]["warnings"]
    assert finding.startswith("fps is variable (VFR, average ")


def test_mxf_gets_a_frame_count(app: App, tmp_path: Path) -> None:
    """MXF carries no frame count ffprobe reports: it is worked out from duration and rate."""
    clip = tmp_path / f"{ASSET}_v001.mxf"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "1",
           "-c:v", "mpeg2video", "-b:v", "2M", str(clip))
    version = versioned(app, clip)
    assert version.status == "complete", version.error
    assert version.media["frames"] == 25


@pytest.mark.parametrize(("stored", "finding"), [("half", []), ("float", [
    "pix_fmt is gbrpf32le (float in the file) (spec for TST: half)"])])
def test_exr_records_half_or_float_and_qc_judges_what_the_file_stores(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path, stored: str,
        finding: list[str]) -> None:
    """The decoder says float for both; the header says which, and QC goes by the header."""
    app = _app_with_spec(write_config, sqlite_url, 'pix_fmt = "half"')
    exr = tmp_path / f"{ASSET}_v001.exr"
    ffmpeg(*PICTURE, "-frames:v", "1", "-pix_fmt", "gbrpf32le", "-format", stored, str(exr))
    version = versioned(app, exr)
    assert version.status == "complete", version.error
    assert version.media["pixel_type"] == stored
    assert version.media["qc"]["warnings"] == finding


def test_hdr_mastering_metadata_is_recorded(app: App, tmp_path: Path) -> None:
    """HEVC PQ with mastering display and light level SEI: both in the version's media."""
    clip = tmp_path / f"{ASSET}_v001.mov"
    ffmpeg(*PICTURE, "-frames:v", "4", "-c:v", "libx265", "-pix_fmt", "yuv420p10le",
           "-x265-params", HDR_PARAMS, "-tag:v", "hvc1", str(clip))
    version = versioned(app, clip)
    assert version.status == "complete", version.error
    hdr = version.media["hdr"]
    assert hdr["transfer"] == "PQ"
    assert hdr["mastering_display"]["max_luminance"] == "10000000/10000"
    assert hdr["content_light_level"] == {"max_content": 1000, "max_average": 400}
    assert outputs(app)["proxy_h264"].stat().st_size > 0



def test_dpx_bit_depth_is_recorded_and_qc_can_ask_for_it(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """A 10-bit DPX: bit depth in the media, and a spec of `pix_fmt = "10bit"` is met."""
    app = _app_with_spec(write_config, sqlite_url, 'pix_fmt = "10bit"')
    dpx = tmp_path / f"{ASSET}_v001.dpx"
    ffmpeg(*PICTURE, "-frames:v", "1", "-pix_fmt", "gbrp10le", str(dpx))
    version = versioned(app, dpx)
    assert version.status == "complete", version.error
    [video] = [s for s in version.media["streams"] if s["type"] == "video"]
    assert video["bit_depth"] == 10
    assert version.media["qc"]["warnings"] == []
