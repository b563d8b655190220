"""Pure tier: which colour path a source takes and the filter text it gets (no ffmpeg)."""

from __future__ import annotations

from pathlib import Path

from axiomd.color import BakedLut, ColorSettings
from axiomd.consumers.dressing import ReviewFields, burn_in_text
from axiomd.consumers.review import BT709_TAGS, color_filters, input_space

SETTINGS = ColorSettings(inputs={"dpx": "ACEScct"})
LUT = BakedLut(Path("/c/a:b/x.cube"), Path("/c/a:b/x-shaper.cube"), "studio #1")


def _info(pix_fmt: str = "yuv420p", **tags: str) -> dict:
    return {"streams": [{"type": "video", "pix_fmt": pix_fmt, **tags}]}


def test_exr_without_a_configured_space_is_scene_linear() -> None:
    """OCIO's recommendation: an unlabelled EXR is the config's scene_linear role."""
    assert input_space(SETTINGS, ".EXR") == "scene_linear"
    assert input_space(SETTINGS, "dpx") == "ACEScct"
    assert input_space(SETTINGS, "mov") is None


def test_image_goes_through_shaper_then_cube_with_escaped_paths() -> None:
    """A scene-linear image: float RGB, lut1d shaper, tetrahedral lut3d, zscale to YUV."""
    plan = color_filters(_info("gbrpf32le"), SETTINGS, "exr", LUT, "proxy")
    assert plan.filters == [
        "format=gbrpf32le", r"lut1d=file=/c/a\\:b/x-shaper.cube:interp=linear",
        r"lut3d=file=/c/a\\:b/x.cube:interp=tetrahedral",
        "zscale=d=none:pin=709:p=709:tin=709:t=709:min=gbr:m=709:r=limited,format=yuv420p"]
    assert plan.output_args == BT709_TAGS
    assert plan.record == {"input": "scene_linear", "display": SETTINGS.display,
                           "view": SETTINGS.view, "config": "studio #1"}


def test_thumbnail_of_an_image_stays_full_range_rgb_untagged() -> None:
    """A still ends in full-range RGB and needs no video colour tags."""
    plan = color_filters(_info("gbrpf32le"), SETTINGS, "exr", LUT, "still")
    assert plan.filters[-1].endswith("m=gbr:r=full,format=gbrp") and plan.output_args == []


def test_bt601_video_is_converted_not_passed_through() -> None:
    """An SD clip tagged BT.601 gets its matrix and primaries converted to BT.709."""
    plan = color_filters(_info(color_primaries="smpte170m", color_transfer="smpte170m",
                               color_space="smpte170m"), SETTINGS, "mov")
    assert "pin=170m:tin=601:min=170m:p=709:t=709" in plan.filters[0]
    assert plan.record["applied"] == "converted smpte170m/smpte170m to BT.709"


def test_pq_video_is_linearised_tone_mapped_and_re_encoded() -> None:
    """PQ: linear at the reference white, BT.709 primaries, tone curve, BT.709 transfer."""
    plan = color_filters(_info("yuv420p10le", color_primaries="bt2020",
                               color_transfer="smpte2084", color_space="bt2020nc"),
                         SETTINGS, "mov")
    assert plan.filters[0] == "zscale=pin=2020:tin=smpte2084:min=2020_ncl:t=linear:npl=100"
    assert "tonemap=tonemap=mobius:param=0.8:desat=0" in plan.filters
    assert "tin=linear:t=709" in plan.filters[-1] and plan.output_args == BT709_TAGS


def test_burn_in_text_escapes_only_what_drawtext_expands() -> None:
    """`%` and `\\` are escaped for drawtext; `:` and `'` need nothing in a text file."""
    fields = ReviewFields(asset="A", version="v001", artist="O'Neil: 100% \\o/")
    assert burn_in_text("{artist}", fields) == "O'Neil: 100\\% \\\\o/"


def test_dpx_tagged_linear_without_a_configured_space_is_shown_as_encoded() -> None:
    """ffmpeg reads many log DPX headers as "linear": without `color.inputs.dpx` the code
    values are shown as they are, never brightened by a linear → BT.709 curve."""
    plan = color_filters(_info("gbrp10le", color_transfer="linear", color_space="gbr"),
                         ColorSettings(), "dpx", None, "proxy")
    assert "tin=709:min=gbr" in plan.filters[0]
    assert plan.record["source"].startswith("dpx without a colour space")
    assert plan.output_args == BT709_TAGS
