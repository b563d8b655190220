"""Colour management: `[color]` validation, cached display LUTs, and proxies and thumbnails
whose pixels match OCIO's own CPU processor.

Tolerances (8-bit codes, measured against OCIO's CPU processor on the same linear values):
thumbnail/PNG ≤ 1 for neutrals and ≤ 2 for saturated colours near the gamut edge (where
the ACES 2.0 gamut compression bends fastest between 3D LUT nodes; measured 0 and 1);
H.264 proxy decoded with its BT.709 limited-range matrix ≤ 4 (measured 1 for neutrals,
4 for the most saturated patch: 8-bit limited-range YUV alone costs up to ~3 codes there).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from axiomd.color import (
    ColorSettings,
    apply_display,
    bake_display_lut,
    validate_color_settings,
)
from axiomd.consumers.review import review_filters
from axiomd.errors import ConfigError
from tests.colortools import (
    decode_rgb,
    ffmpeg,
    float_image,
    patch_centres,
    patches,
    probe_video,
    read_png,
    render,
    tags,
    write_exr,
)

SETTINGS = ColorSettings(inputs={"exr": "ACEScg", "dpx": "ACEScct"})
NEUTRALS = np.array([[0.18] * 3, [0.0] * 3, [0.01] * 3, [0.05] * 3, [0.5] * 3, [1.0] * 3,
                     [4.0] * 3, [16.0] * 3], dtype=np.float32)
COLOURS = np.concatenate([
    NEUTRALS,
    np.array([[0.5, 0.1, 0.05], [0.05, 0.2, 0.6], [0.3, 0.25, 0.1], [0.08, 0.3, 0.09],
              [0.9, 0.7, 0.5], [0.02, 0.02, 0.08]], dtype=np.float32),
    np.random.default_rng(14).uniform(0, 1, (34, 3)).astype(np.float32) ** 2.2 * 2,
])


def _expected(values: np.ndarray, space: str = "ACEScg") -> np.ndarray:
    return np.clip(np.round(apply_display(SETTINGS, space, values) * 255), 0, 255).astype(int)


def test_default_settings_validate_against_the_builtin_studio_config() -> None:
    """The documented `[color]` example loads with no file to download."""
    validate_color_settings(SETTINGS)


def test_unknown_colour_space_names_the_key_and_close_matches() -> None:
    """A typo in `[color.inputs]` fails at load naming the key and the likely intent."""
    with pytest.raises(ConfigError, match=r"color\.inputs\.exr: unknown colour space "
                                          r"'ACEScgg' \(close: ACEScg"):
        validate_color_settings(ColorSettings(inputs={"exr": "ACEScgg"}))


def test_unknown_view_names_the_key_and_close_matches() -> None:
    """A view the display does not have is a config error listing the near names."""
    settings = ColorSettings(view="ACES 2.0 - SDR 100 nit (Rec.709)")
    with pytest.raises(ConfigError, match=r"color\.view: .*ACES 2\.0 - SDR 100 nits \(Rec\.709\)"):
        validate_color_settings(settings)


def test_unknown_display_names_the_key() -> None:
    """A display the config lacks is a config error on `color.display`."""
    with pytest.raises(ConfigError, match=r"color\.display: unknown display 'sRGB Display'"):
        validate_color_settings(ColorSettings(display="sRGB Display"))


def test_drop_root_inputs_override_the_section() -> None:
    """A drop root's `color_inputs` replace only the extensions they name."""
    merged = SETTINGS.with_inputs({"EXR": "Linear Rec.709 (sRGB)"})
    assert dict(merged.inputs) == {"exr": "Linear Rec.709 (sRGB)", "dpx": "ACEScct"}


def test_display_lut_is_baked_once_then_read_from_the_cache(tmp_path: Path) -> None:
    """The second job for the same config/input/view reuses the baked files untouched."""
    first = bake_display_lut(SETTINGS, "ACEScg", tmp_path)
    stamp = first.cube.stat().st_mtime_ns
    start = time.perf_counter()
    second = bake_display_lut(SETTINGS, "ACEScg", tmp_path)
    assert second == first and second.cube.stat().st_mtime_ns == stamp
    assert time.perf_counter() - start < 0.2
    other = bake_display_lut(SETTINGS, "ACEScct", tmp_path)
    assert other.cube != first.cube and other.shaper is None  # log input needs no shaper


def test_linear_grey_card_thumbnail_matches_ocio(tmp_path: Path) -> None:
    """A 0.18 scene-linear EXR grey card becomes the display code OCIO gives, not ~25."""
    exr = write_exr(tmp_path / "grey.exr", np.full((240, 320, 3), 0.18, dtype=np.float32))
    rf = review_filters(float_image(320, 240), "exr", SETTINGS, "still", tmp_path / "lut")
    png = read_png(render(exr, tmp_path / "thumb.png", rf))
    want = _expected(np.array([[0.18] * 3]))[0]
    assert np.abs(png - want).max() <= 1
    assert rf.record["input"] == "ACEScg" and rf.record["view"] == SETTINGS.view
    assert "studio-config" in rf.record["config"]


def test_patches_in_thumbnail_match_ocio_within_tolerance(tmp_path: Path) -> None:
    """Neutrals within 1 code and saturated colours within 2 codes of OCIO's processor."""
    exr = write_exr(tmp_path / "patches.exr", patches(COLOURS))
    rf = review_filters(float_image(128, 96), "exr", SETTINGS, "still", tmp_path / "lut")
    got = patch_centres(read_png(render(exr, tmp_path / "thumb.png", rf)), len(COLOURS))
    error = np.abs(got - _expected(COLOURS)).max(axis=1)
    assert error[: len(NEUTRALS)].max() <= 1, error
    assert error.max() <= 2, error


def test_patches_in_h264_proxy_match_ocio_within_tolerance(tmp_path: Path) -> None:
    """The proxy, decoded with its BT.709 limited-range matrix, is within 4 codes of OCIO."""
    exr = write_exr(tmp_path / "patches.exr", patches(COLOURS))
    rf = review_filters(float_image(128, 96), "exr", SETTINGS, "proxy", tmp_path / "lut")
    proxy = render(exr, tmp_path / "proxy.mp4", rf, input_args=("-loop", "1", "-t", "0.5"))
    got = patch_centres(decode_rgb(proxy), len(COLOURS))
    error = np.abs(got - _expected(COLOURS)).max(axis=1)
    assert error.max() <= 4, error


def test_proxy_of_an_exr_is_tagged_bt709_limited(tmp_path: Path) -> None:
    """Whatever the source, the proxy says BT.709 primaries, transfer, matrix, tv range."""
    exr = write_exr(tmp_path / "grey.exr", np.full((96, 128, 3), 0.18, dtype=np.float32))
    rf = review_filters(float_image(128, 96), "exr", SETTINGS, "proxy", tmp_path / "lut")
    proxy = render(exr, tmp_path / "p.mp4", rf, input_args=("-loop", "1", "-t", "0.2"))
    assert tags(proxy) == ("bt709", "bt709", "bt709", "tv")


def test_log_dpx_input_goes_through_ocio_without_a_shaper(tmp_path: Path) -> None:
    """An ACEScct-encoded 10-bit DPX grey card comes out as OCIO displays ACEScct 0.18."""
    value = round(0.4135884 * 1023)  # ACEScct encoding of linear 0.18
    dpx = tmp_path / "grey.dpx"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=128x96", "-vf",
           f"format=gbrp10le,lutrgb=r={value}:g={value}:b={value}", "-frames:v", "1", str(dpx))
    rf = review_filters({"width": 128, "height": 96, "streams": [
        {"type": "video", "pix_fmt": "gbrp10le"}]}, "dpx", SETTINGS, "still", tmp_path / "lut")
    png = read_png(render(dpx, tmp_path / "t.png", rf))
    want = _expected(np.array([[value / 1023] * 3]), "ACEScct")[0]
    assert np.abs(png - want).max() <= 1
    assert rf.record["input"] == "ACEScct"


def test_lut_paths_with_quotes_colons_brackets_work_in_the_filter_graph(tmp_path: Path) -> None:
    """A store under a folder like `it's: [dailies], a;b` still feeds ffmpeg its LUTs."""
    exr = write_exr(tmp_path / "grey.exr", np.full((96, 128, 3), 0.18, dtype=np.float32))
    rf = review_filters(float_image(128, 96), "exr", SETTINGS, "still",
                        tmp_path / "it's: [dailies], a;b" / "lut")
    png = read_png(render(exr, tmp_path / "thumb.png", rf))
    assert np.abs(png - _expected(np.array([[0.18] * 3]))[0]).max() <= 1


def test_exr_sequence_through_the_proxy_command_is_colour_managed(tmp_path: Path) -> None:
    """Spliced into today's proxy_args for a 1001-based sequence, the graph gives a tagged
    BT.709 proxy of every frame, grey within 4 codes of OCIO."""
    from axiomd.consumers.ffmpeg_args import proxy_args

    for frame in (1001, 1002, 1003):
        write_exr(tmp_path / f"plate.{frame}.exr", np.full((96, 128, 3), 0.18, np.float32))
    rf = review_filters(float_image(128, 96), "exr", SETTINGS, "proxy", tmp_path / "lut")
    out = tmp_path / "proxy.mp4"
    args = proxy_args(tmp_path / "plate.####.exr", out, {"max_width": 1920}, {"fps": 24},
                      has_audio=False)
    vf = args.index("-vf") + 1
    args[vf] = ",".join([*rf.pre, args[vf], *rf.post])
    subprocess.run([*args[:-1], *rf.output_args, str(out)], check=True, capture_output=True)
    info = probe_video(out)
    assert int(info["nb_read_frames"]) == 3 and info["color_transfer"] == "bt709"
    assert np.abs(decode_rgb(out, 2)[48, 64] - _expected(np.array([[0.18] * 3]))[0]).max() <= 4


def test_settings_from_the_color_table_resolve_a_relative_config(tmp_path: Path) -> None:
    """`config = "ocio/studio.ocio"` is read relative to the config file's folder."""
    settings = ColorSettings.from_mapping({"config": "ocio/studio.ocio",
                                           "inputs": {"EXR": "ACEScg"}}, base=tmp_path)
    assert settings.config == str(tmp_path / "ocio/studio.ocio")
    assert dict(settings.inputs) == {"exr": "ACEScg"}
    with pytest.raises(ConfigError, match=r"color: unknown key\(s\) dispaly"):
        ColorSettings.from_mapping({"dispaly": "sRGB - Display"})


def test_a_bake_is_logged_once_per_lut(tmp_path: Path) -> None:
    """`color.lut_baked` marks the costly first job; a cache hit says nothing."""
    from structlog.testing import capture_logs

    with capture_logs() as events:
        bake_display_lut(SETTINGS, "ACEScg", tmp_path)
        bake_display_lut(SETTINGS, "ACEScg", tmp_path)
    baked = [e for e in events if e["event"] == "color.lut_baked"]
    assert len(baked) == 1 and baked[0]["input"] == "ACEScg"


def test_show_line_names_input_view_and_config() -> None:
    """`axiomd show` can print what colour was applied in one line."""
    from axiomd.color import color_line

    line = color_line({"input": "ACEScg", "display": "sRGB - Display",
                       "view": "ACES 2.0 - SDR 100 nits (Rec.709)", "config": "studio #ab"})
    assert line == "ACEScg → sRGB - Display / ACES 2.0 - SDR 100 nits (Rec.709) [studio #ab]"
    assert color_line({"source": "untagged, treated as BT.709",
                       "applied": "passed through as BT.709"}).startswith("untagged")
