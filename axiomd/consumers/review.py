"""How a review proxy or thumbnail gets its colour: pure filter-graph builders.

Image sources (EXR, DPX… with a colour space in `[color.inputs]`) go through the OCIO
display LUT baked by `axiomd.color`; video sources are read by their tags: BT.709 and
untagged pass through, PQ and HLG are tone-mapped to SDR. Every proxy leaves as BT.709
primaries/transfer/matrix, limited range, whatever came in.

Final 8-bit conversions use zscale without dither: swscale's float → 8-bit path was
measured rounding up to 1.5 codes off, zscale within half a code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from axiomd.consumers.dressing import (
    Dressing,
    ReviewFields,
    background_filters,
    burn_in_filters,
    burn_in_text,
    keyframe_args,
    slate_audio_filters,
    slate_filters,
    slate_text,
)
from axiomd.consumers.ffmpeg_args import filter_value

if TYPE_CHECKING:  # numpy + OpenColorIO are imported only when a look is built
    from axiomd.color import BakedLut, ColorSettings

Output = Literal["proxy", "still"]

IMAGE_EXTS = frozenset({"exr", "dpx", "png", "jpg", "jpeg", "tif", "tiff", "tga", "cin"})
SCENE_LINEAR_DEFAULT = frozenset({"exr"})
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
BT709_TAGS = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
              "-color_range", "tv"]
_ZSCALE_PRIMARIES = {"bt709": "709", "bt2020": "2020", "smpte170m": "170m",
                     "smpte240m": "240m", "bt470bg": "470bg", "smpte432": "smpte432"}
_ZSCALE_TRANSFER = {"bt709": "709", "smpte170m": "601", "bt2020-10": "2020_10",
                    "bt2020-12": "2020_12", "linear": "linear", "iec61966-2-1": "iec61966-2-1"}
_ZSCALE_MATRIX = {"bt709": "709", "bt470bg": "470bg", "smpte170m": "170m",
                  "bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "gbr": "gbr"}


def input_space(settings: ColorSettings, ext: str) -> str | None:
    """The OCIO colour space an image of this extension is in, or None to read tags.

    An EXR with no configured space is taken as the config's `scene_linear` role, as
    OCIO recommends; other images without one are treated like untagged video.
    """
    ext = ext.lower().lstrip(".")
    if ext in settings.inputs:
        return settings.inputs[ext]
    if ext in SCENE_LINEAR_DEFAULT:
        return "scene_linear"
    return None


def _out(output: Output, alpha: bool) -> str:
    """zscale's output side and the pixel format: BT.709 limited YUV for a proxy, full-range
    RGB for a still or for an alpha source still to be composited."""
    if alpha:
        return "m=gbr:r=full,format=gbrap"
    if output == "proxy":
        return "m=709:r=limited,format=yuv420p"
    return "m=gbr:r=full,format=gbrp"


def _final(output: Output, alpha: bool = False, transfer: str = "709") -> str:
    """Quantize display-referred RGB to the deliverable, with explicit tags so no later
    step reinterprets them."""
    if alpha:
        return "format=gbrap"  # zscale would squeeze float alpha into 16-235; swscale keeps it
    return f"zscale=d=none:pin=709:p=709:tin={transfer}:t=709:min=gbr:{_out(output, False)}"


def image_filters(lut: BakedLut, alpha: bool, premultiplied: bool = False) -> list[str]:
    """Float RGB through the baked shaper and cube; alpha, if any, rides along untouched,
    premultiplied colour (the EXR convention) divided out first so the LUT sees true colour."""
    chain = ["format=gbrapf32le" if alpha else "format=gbrpf32le"]
    if alpha and premultiplied:
        chain.append("unpremultiply=inplace=1")
    if lut.shaper is not None:
        chain.append(f"lut1d=file={filter_value(str(lut.shaper))}:interp=linear")
    chain.append(f"lut3d=file={filter_value(str(lut.cube))}:interp=tetrahedral")
    return chain


def _video_stream(info: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((s for s in info.get("streams", []) if s.get("type") == "video"), {})


def has_alpha(info: Mapping[str, Any]) -> bool:
    pix_fmt = str(_video_stream(info).get("pix_fmt", ""))
    return pix_fmt.startswith(("yuva", "gbra", "rgba", "bgra", "argb", "abgr", "ya")) or \
        pix_fmt in {"pal8"}


def video_filters(info: Mapping[str, Any], settings: ColorSettings, output: Output,
                  alpha: bool = False) -> tuple[list[str], dict[str, Any]]:
    """Colour for a video source from its tags, and what was assumed or applied."""
    video = _video_stream(info)
    primaries = video.get("color_primaries") or "bt709"
    transfer = video.get("color_transfer") or "bt709"
    matrix = video.get("color_space") or "bt709"
    untagged = not (video.get("color_primaries") or video.get("color_transfer"))
    pin = _ZSCALE_PRIMARIES.get(primaries, "709")
    min_ = _ZSCALE_MATRIX.get(matrix, "709")
    if transfer in HDR_TRANSFERS:
        npl = f"{settings.hdr_reference_nits:g}"
        param = (f":param={settings.hdr_transition:g}"
                 if settings.hdr_tonemap in ("mobius", "reinhard", "gamma") else "")
        chain = [f"zscale=pin={pin}:tin={transfer}:min={min_}:t=linear:npl={npl}",
                 "format=gbrpf32le", "zscale=p=709",
                 f"tonemap=tonemap={settings.hdr_tonemap}{param}:desat=0",
                 _final(output, transfer="linear")]
        record = {"source": f"{HDR_TRANSFERS[transfer]} {primaries}",
                  "applied": f"tone-mapped to SDR BT.709 ({settings.hdr_tonemap}, "
                             f"reference white {npl} nits)"}
        return chain, record
    tin = _ZSCALE_TRANSFER.get(transfer, "709")
    chain = [f"zscale=d=none:pin={pin}:tin={tin}:min={min_}:p=709:t=709:{_out(output, alpha)}"]
    source = "untagged, treated as BT.709" if untagged else f"{primaries}/{transfer}/{matrix}"
    applied = ("passed through as BT.709" if (pin, tin) == ("709", "709")
               else f"converted {primaries}/{transfer} to BT.709")
    return chain, {"source": source, "applied": applied}


def _without_colour_tags(info: Mapping[str, Any]) -> dict[str, Any]:
    """An image file's transfer tag is not to be trusted (DPX headers say "linear" for
    log scans): without a configured space its code values are shown as they are."""
    streams = [{k: v for k, v in s.items() if k not in ("color_primaries", "color_transfer")}
               for s in info.get("streams", [])]
    return {**info, "streams": streams}


@dataclass(frozen=True)
class ColorPlan:
    """The colour part of a review render: filters that end in the deliverable pixel
    format (alpha kept for compositing when `alpha`), encoder tags, and the record."""

    filters: list[str]
    output_args: list[str]
    record: dict[str, Any] = field(default_factory=dict)
    alpha: bool = False


def color_filters(info: Mapping[str, Any], settings: ColorSettings, ext: str,
                  lut: BakedLut | None = None, output: Output = "proxy") -> ColorPlan:
    """Colour handling for one source: `lut` is the display LUT baked for
    `input_space(settings, ext)` (required when that is not None)."""
    space = input_space(settings, ext)
    tags = BT709_TAGS if output == "proxy" else []
    alpha = has_alpha(info)
    if space is None:
        if ext.lower().lstrip(".") in IMAGE_EXTS:
            info = _without_colour_tags(info)
        chain, record = video_filters(info, settings, output, alpha)
        if ext.lower().lstrip(".") in IMAGE_EXTS:
            record = {"source": f"{ext.lower().lstrip('.')} without a colour space in "
                                "[color.inputs], shown as encoded (BT.709)",
                      "applied": record["applied"]}
        return ColorPlan(chain, tags, record, alpha)
    if lut is None:
        raise ValueError(f"color_filters: a baked LUT for {space!r} is needed")
    chain = image_filters(lut, alpha, premultiplied=ext.lower().lstrip(".") == "exr")
    chain.append(_final("still" if alpha else output, alpha))
    record = {"input": space, "display": settings.display, "view": settings.view,
              "config": lut.identity}
    return ColorPlan(chain, tags, record, alpha)


def to_proxy_format() -> str:
    """After compositing an alpha source (RGB, full range): the proxy's BT.709 limited YUV."""
    return _final("proxy")


@dataclass(frozen=True)
class ReviewFilters:
    """Everything a proxy or thumbnail command needs for colour and dressing.

    `pre` goes first in `-vf` (before the preset's scale), `post` after the scale (slate,
    burn-ins), `output_args` before the output file, `audio` as `-af` when the source
    has sound; `record` is merged into the version's media under `color`.
    """

    pre: list[str]
    post: list[str]
    output_args: list[str]
    audio: list[str]
    record: dict[str, Any]


def review_filters(info: Mapping[str, Any], ext: str, settings: ColorSettings,
                   output: Output, lut_cache: Path, dressing: Dressing | None = None,
                   fields: ReviewFields | None = None,
                   text_folder: Path | None = None) -> ReviewFilters:
    """The lead's one call from the proxy/thumbnail argument builders.

    `info` is the probe summary (`summarize_probe`), `ext` the source's extension,
    `lut_cache` a folder shared by workers (e.g. `<store>/.cache/lut`). For a proxy with
    dressing, `fields` says what to burn in and `text_folder` (a job's temporary folder)
    receives the drawtext files. The display LUT is baked on first use and cached.
    """
    from axiomd.color import bake_display_lut

    space = input_space(settings, ext)
    lut = bake_display_lut(settings, space, lut_cache) if space is not None else None
    plan = color_filters(info, settings, ext, lut, output)
    pre = list(plan.filters)
    if plan.alpha:
        background = dressing.alpha_background if dressing else "checkerboard"
        pre += background_filters(background, int(info.get("width") or 0),
                                  int(info.get("height") or 0))
        if output == "proxy":
            pre.append(to_proxy_format())
    post: list[str] = []
    args = list(plan.output_args)
    audio: list[str] = []
    if output == "proxy" and dressing is not None:
        fps = float(info.get("fps") or (fields.fps if fields else 24.0))
        args += keyframe_args(fps, dressing.keyframe_seconds)
        if fields is not None and text_folder is not None:
            slate = 1 if dressing.slate else 0
            if dressing.slate:
                slate_file = text_folder / "slate.txt"
                slate_file.write_text(slate_text(fields, dressing.slate_note), encoding="utf-8")
                post += slate_filters(slate_file)
                audio += slate_audio_filters(fps)
            corners = {}
            for corner, template in dressing.burn_in.items():
                path = text_folder / f"burn-in-{corner}.txt"
                path.write_text(burn_in_text(template, fields, slate, f"burn_in.{corner}"),
                                encoding="utf-8")
                corners[corner] = path
            post += burn_in_filters(corners, bool(slate))
    return ReviewFilters(pre, post, args, audio, plan.record)
