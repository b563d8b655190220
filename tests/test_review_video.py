"""Video sources by their tags (BT.709, untagged, PQ, HLG) and alpha sources over a
background: every proxy leaves tagged BT.709 limited range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from axiomd.color import ColorSettings
from axiomd.consumers.dressing import Dressing
from axiomd.consumers.review import review_filters
from tests.colortools import (
    decode_rgb,
    ffmpeg,
    float_image,
    patch_centres,
    patches,
    read_png,
    render,
    summary,
    tags,
    write_exr,
)

SETTINGS = ColorSettings(inputs={"exr": "ACEScg"})
RAMP = np.linspace(0, 0.9, 10)[:, None].repeat(3, 1)
CHART = np.concatenate([RAMP, np.random.default_rng(3).uniform(0.05, 0.85, (30, 3))])
REC709_OUT = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
              "-color_range", "tv"]


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s BT.709 chart of flat patches (a grey ramp to 90 % and colours), lossless."""
    folder = tmp_path_factory.mktemp("master")
    image = (patches(CHART) * 255).round().astype(np.uint8)
    h, w = image.shape[:2]
    (folder / "chart.raw").write_bytes(image.tobytes())
    out = folder / "master.mkv"
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "24", "-i",
           str(folder / "chart.raw"), "-vf", "loop=23:1:0,format=gbrp,zscale=pin=709:p=709:"
           "tin=709:t=709:min=gbr:m=709:r=limited,format=yuv420p", "-c:v", "ffv1", *REC709_OUT,
           str(out))
    return out


def _hdr(master: Path, out: Path, transfer: str) -> Path:
    """The same chart mastered as BT.2020 HDR (SDR content at 100 nits), 10-bit."""
    ffmpeg("-i", str(master), "-vf", f"zscale=pin=709:tin=709:min=709:rin=limited:p=2020:"
           f"t={transfer}:m=2020_ncl:r=limited:npl=100,format=yuv420p10le", "-c:v", "ffv1",
           "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
           "-color_range", "tv", str(out))
    return out


def _proxy(source: Path, out: Path, settings: ColorSettings = SETTINGS) -> tuple[Path, dict]:
    rf = review_filters(summary(source), source.suffix, settings, "proxy", out.parent / "lut")
    return render(source, out, rf), rf.record


def test_pq_clip_of_sdr_content_tone_maps_close_to_the_bt709_master(master: Path,
                                                                    tmp_path: Path) -> None:
    """PQ at 100 nits comes back within 3 codes of the BT.709 master up to 90 % grey."""
    proxy, record = _proxy(_hdr(master, tmp_path / "pq.mkv", "smpte2084"), tmp_path / "p.mp4")
    want = patch_centres(decode_rgb(master, 5), len(CHART))
    got = patch_centres(decode_rgb(proxy, 5), len(CHART))
    error = np.abs(got - want)
    assert error.max() <= 3, error.max(axis=1)
    assert record["source"] == "PQ bt2020" and "tone-mapped" in record["applied"]


def test_proxy_of_a_pq_clip_is_tagged_bt709(master: Path, tmp_path: Path) -> None:
    """An 8-bit proxy of HDR10 material no longer claims to be HDR."""
    proxy, _ = _proxy(_hdr(master, tmp_path / "pq.mkv", "smpte2084"), tmp_path / "p.mp4")
    assert tags(proxy) == ("bt709", "bt709", "bt709", "tv")


def test_hlg_clip_tone_maps_to_tagged_bt709(master: Path, tmp_path: Path) -> None:
    """HLG is tone-mapped too, and its proxy is within 3 codes of the master's grey ramp."""
    proxy, record = _proxy(_hdr(master, tmp_path / "hlg.mkv", "arib-std-b67"), tmp_path / "h.mp4")
    assert tags(proxy) == ("bt709", "bt709", "bt709", "tv")
    want = patch_centres(decode_rgb(master, 5), len(RAMP))
    assert np.abs(patch_centres(decode_rgb(proxy, 5), len(RAMP)) - want).max() <= 3
    assert record["source"] == "HLG bt2020"


def test_bt709_clip_passes_through_unchanged(master: Path, tmp_path: Path) -> None:
    """A BT.709 source keeps its values (within 2 codes after a re-encode)."""
    proxy, record = _proxy(master, tmp_path / "p.mp4")
    want = patch_centres(decode_rgb(master, 5), len(CHART))
    assert np.abs(patch_centres(decode_rgb(proxy, 5), len(CHART)) - want).max() <= 2
    assert record["applied"] == "passed through as BT.709"


def test_untagged_clip_is_treated_as_bt709_and_recorded_so(tmp_path: Path) -> None:
    """No colour tags: the proxy is BT.709 and the version says that was an assumption."""
    clip = tmp_path / "untagged.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=1", "-pix_fmt", "yuv420p",
           "-c:v", "libx264", "-preset", "ultrafast", str(clip))
    assert tags(clip)[:3] == (None, None, None)
    proxy, record = _proxy(clip, tmp_path / "p.mp4")
    assert record["source"] == "untagged, treated as BT.709"
    assert tags(proxy) == ("bt709", "bt709", "bt709", "tv")


def _disk(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[:size, :size]
    alpha = ((x - size / 2 + 0.5) ** 2 + (y - size / 2 + 0.5) ** 2 < (size / 3) ** 2)
    return alpha.astype(np.float32), np.full((size, size, 3), 0.18, np.float32)


@pytest.mark.parametrize("background", ["black", "grey", "checkerboard"])
def test_alpha_exr_disk_is_visible_over_the_background(tmp_path: Path, background: str) -> None:
    """A premultiplied grey disk over each background: inside is the disk's display grey,
    outside is the background, so the matte is seen."""
    alpha, grey = _disk()
    exr = write_exr(tmp_path / "disk.exr", grey * alpha[..., None], alpha)
    rf = review_filters(float_image(64, 64, alpha=True), "exr", SETTINGS, "still", tmp_path / "lut",
                        Dressing(alpha_background=background))
    image = read_png(render(exr, tmp_path / "t.png", rf))
    centre, corner = image[32, 32], image[:8, :8].reshape(-1, 3)
    assert abs(int(centre[0]) - 89) <= 2  # ACES 2.0 SDR display code of linear 0.18
    outside = {"black": {0}, "grey": {128}, "checkerboard": {102, 153}}[background]
    assert set(np.unique(corner[:, 0]).tolist()) <= {v + d for v in outside for d in (-1, 0, 1)}


def test_prores_4444_alpha_disk_composited_in_the_proxy(tmp_path: Path) -> None:
    """A ProRes 4444 with a matte becomes a proxy where the disk stands out of black."""
    clip = tmp_path / "disk.mov"
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=320x240:r=24:d=1", "-vf",
           "format=yuva444p,geq=lum='lum(X,Y)':cb=128:cr=128:"
           "a='if(lt(hypot(X-160,Y-120),60),255,0)'", "-c:v", "prores_ks", "-profile:v", "4444",
           "-pix_fmt", "yuva444p10le", str(clip))
    rf = review_filters(summary(clip), ".mov", SETTINGS, "proxy", tmp_path / "lut",
                        Dressing(alpha_background="black"))
    proxy = render(clip, tmp_path / "p.mp4", rf)
    image = decode_rgb(proxy, 3)
    assert image[120, 160].min() >= 230 and image[10, 10].max() <= 4
    assert tags(proxy) == ("bt709", "bt709", "bt709", "tv")


def test_png_without_a_configured_space_thumbnails_unchanged(tmp_path: Path) -> None:
    """An sRGB/BT.709 PNG with no `color.inputs.png` keeps every pixel value exactly."""
    png = tmp_path / "chart.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=128x96", "-frames:v", "1", "-pix_fmt", "rgb24",
           str(png))
    rf = review_filters(summary(png), ".png", SETTINGS, "still", tmp_path / "lut")
    assert np.array_equal(read_png(render(png, tmp_path / "t.png", rf)), read_png(png))
