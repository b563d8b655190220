"""ffprobe's JSON → the technical metadata a TD reads, and the shape a job plans by. Pure.

The summary says what the file is, as the viewer would see it: rotation and pixel aspect
give the display size, a variable frame rate is flagged rather than averaged into a
strange number, and audio keeps every track's title and layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

INTERLACED = {"tt": "tff", "tb": "tff", "bb": "bff", "bt": "bff"}
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
STILL_FORMATS = {"image2", "exr_pipe", "dpx_pipe", "png_pipe", "jpeg_pipe", "tiff_pipe",
                 "webp_pipe", "bmp_pipe", "psd_pipe"}
VFR_TOLERANCE = 0.01
# What muxers write as a track's handler name when nobody named the track.
GENERIC_HANDLERS = {"", "SoundHandler", "VideoHandler", "Core Media Audio", "Core Media Video",
                    "Apple Sound Media Handler", "Apple Video Media Handler", "ISO Media file"}


def _fraction(value: Any) -> Fraction | None:
    try:
        rate = Fraction(str(value).replace(":", "/")) if value else None
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate else None


def _rate(value: str | None) -> float | None:
    rate = _fraction(value)
    return round(float(rate), 3) if rate else None


def _num(value: Any, kind: type = float) -> Any:
    try:
        return kind(value) if value not in (None, "N/A", "") else None
    except (TypeError, ValueError):
        return None


def _clock(value: Any) -> float | None:
    """Matroska's per-track `DURATION` tag, `00:00:02.000000000`, in seconds."""
    try:
        hours, minutes, seconds = str(value).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _rotation(stream: Mapping[str, Any]) -> int:
    """Degrees the player turns the picture (0, 90, 180, 270), from the display matrix."""
    for data in stream.get("side_data_list", []) or []:
        if "rotation" in data:
            return round(float(data["rotation"])) % 360
    return int(_num(stream.get("tags", {}).get("rotate"), float) or 0) % 360


def _hdr(stream: Mapping[str, Any]) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    transfer = HDR_TRANSFERS.get(str(stream.get("color_transfer")))
    if transfer:
        found["transfer"] = transfer
    for data in stream.get("side_data_list", []) or []:
        kind = str(data.get("side_data_type", ""))
        values = {k: v for k, v in data.items() if k != "side_data_type"}
        if kind.startswith("Mastering display"):
            found["mastering_display"] = values
        elif kind.startswith("Content light level"):
            found["content_light_level"] = values
    return found or None


def _video(s: Mapping[str, Any], fmt: Mapping[str, Any]) -> dict[str, Any]:
    width, height = s.get("width"), s.get("height")
    sar = _fraction(s.get("sample_aspect_ratio")) or Fraction(1)
    rotation = _rotation(s)
    display_w = round(width * sar) if width else None
    display_h = height
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    avg, real = _fraction(s.get("avg_frame_rate")), _fraction(s.get("r_frame_rate"))
    vfr = bool(avg and real and abs(float(avg) / float(real) - 1) > VFR_TOLERANCE)
    fps = _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate"))
    tags = s.get("tags", {})
    frames = _num(s.get("nb_frames"), int) or _num(tags.get("NUMBER_OF_FRAMES"), int)
    # The picture's own length: the container's may include longer audio.
    duration = _num(s.get("duration")) or _clock(tags.get("DURATION"))
    if frames is None and fps and duration and not vfr:
        frames = round(duration * fps)  # MXF and others carry no frame count
    field_order = s.get("field_order")
    bit_depth = _num(s.get("bits_per_raw_sample"), int)
    return {
        "width": width, "height": height, "pix_fmt": s.get("pix_fmt"),
        "bit_depth": bit_depth,
        "fps": fps, "vfr": vfr or None, "frames": frames,
        "duration": duration,
        "pixel_aspect": f"{sar.numerator}:{sar.denominator}",
        "display_aspect": s.get("display_aspect_ratio"),
        "rotation": rotation,
        "display_width": display_w, "display_height": display_h,
        "field_order": field_order,
        "color_primaries": s.get("color_primaries"),
        "color_transfer": s.get("color_transfer"),
        "color_space": s.get("color_space"),
        "hdr": _hdr(s),
        "timecode": s.get("tags", {}).get("timecode"),
    }


def _audio(s: Mapping[str, Any]) -> dict[str, Any]:
    tags = s.get("tags", {})
    depth = _num(s.get("bits_per_raw_sample"), int) or _num(s.get("bits_per_sample"), int)
    return {"channels": s.get("channels"), "channel_layout": s.get("channel_layout"),
            "sample_rate": _num(s.get("sample_rate"), int), "bit_depth": depth or None,
            "title": _title(tags), "language": tags.get("language")}


def _title(tags: Mapping[str, Any]) -> str | None:
    """A track's name: `title` (Matroska, MXF) or the handler name QuickTime keeps it in."""
    handler = str(tags.get("handler_name", "")).strip()
    return tags.get("title") or (handler if handler not in GENERIC_HANDLERS else None)


def summarize_probe(raw: Mapping[str, Any],
                    sequence: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The technical metadata a TD looks at, out of ffprobe's full JSON.

    `sequence` (`first`, `last`, `fps`) describes an image sequence read as frames: its
    length runs from first to last frame, gaps included, since that is what plays.
    """
    fmt = raw.get("format", {})
    streams = []
    for s in raw.get("streams", []):
        entry: dict[str, Any] = {"index": s.get("index"), "type": s.get("codec_type"),
                                 "codec": s.get("codec_name"), "profile": s.get("profile")}
        if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic"):
            entry["type"] = "cover_art"  # a sound file's artwork, not a picture to review
        elif s.get("codec_type") == "video":
            entry.update(_video(s, fmt))
        elif s.get("codec_type") == "audio":
            entry.update(_audio(s))
        streams.append({k: v for k, v in entry.items() if v is not None})
    tc = fmt.get("tags", {}).get("timecode") or next(
        (s.get("timecode") for s in streams if s.get("timecode")), None)
    video = next((s for s in streams if s.get("type") == "video"), {})
    audio = [s for s in streams if s.get("type") == "audio"]
    still = bool(video) and not sequence and (
        video.get("frames") == 1 or fmt.get("format_name") in STILL_FORMATS)
    kind = ("sequence" if sequence and video else "still" if still else "movie" if video
            else "audio" if audio else None)
    frames = 1 if still else video.get("frames")
    duration = _num(fmt.get("duration"))
    if sequence and video:
        frames = int(sequence["last"]) - int(sequence["first"]) + 1
        duration = round(frames / float(sequence["fps"]), 6)
    summary = {
        "container": fmt.get("format_name"),
        "duration": duration,
        "size": _num(fmt.get("size"), int),
        "bit_rate": _num(fmt.get("bit_rate"), int),
        "timecode": tc,
        "kind": kind,
        "width": video.get("width"),
        "height": video.get("height"),
        "display_width": video.get("display_width"),
        "display_height": video.get("display_height"),
        "rotation": video.get("rotation") or None,
        "pixel_aspect": video.get("pixel_aspect"),
        "display_aspect": video.get("display_aspect"),
        "field_order": video.get("field_order"),
        "fps": None if still else video.get("fps"),
        "vfr": video.get("vfr"),
        "video_codec": video.get("codec"),
        "frames": frames,
        "first_frame": int(sequence["first"]) if sequence and video else None,
        "hdr": video.get("hdr"),
        "audio_tracks": len(audio) or None,
        "audio_bit_depth": audio[0].get("bit_depth") if audio else None,
        "streams": streams,
    }
    return {k: v for k, v in summary.items() if v is not None}


def with_frame_hdr(summary: Mapping[str, Any], frames: Mapping[str, Any]) -> dict[str, Any]:
    """The summary with the HDR mastering metadata found in the first frame's side data
    (`ffprobe -show_frames`), which is where the bitstream, not the container, keeps it."""
    first = (frames.get("frames") or [{}])[0]
    found = _hdr({"side_data_list": first.get("side_data_list", [])}) or {}
    if not found:
        return dict(summary)
    return {**summary, "hdr": {**summary.get("hdr", {}), **found}}


@dataclass(frozen=True)
class Shape:
    """What a job needs to know to render a source faithfully."""

    kind: str  # movie | still | audio | sequence
    fps: float | None = None
    frames: int | None = None
    duration: float | None = None
    vfr: bool = False
    parity: str | None = None  # tff | bff for interlaced sources
    audio_tracks: int = 0

    @property
    def frame_seconds(self) -> float | None:
        return 1 / self.fps if self.fps else None


def shape_of(summary: Mapping[str, Any]) -> Shape:
    video = next((s for s in summary.get("streams", []) if s.get("type") == "video"), {})
    kind = summary.get("kind", "movie")
    tracks = int(summary.get("audio_tracks", 0))
    duration = summary.get("duration") if kind == "sequence" else (
        video.get("duration") or (summary.get("duration") if not tracks else None))
    return Shape(kind=kind, fps=summary.get("fps"), frames=summary.get("frames"),
                 duration=duration, vfr=bool(summary.get("vfr")),
                 parity=INTERLACED.get(str(video.get("field_order"))),
                 audio_tracks=tracks)
