"""FFmpeg and ffprobe argument lists. Pure: no processes are started here.

Lists only, never a shell string: file names come from artists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any


def probe_args(source: Path, sequence: Mapping[str, Any] | None = None) -> list[str]:
    return ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            *_input(source, sequence)]


def sequence_glob(pattern: Path) -> str:
    """`…/name.####.exr` → a glob for exactly its frames, every other glob character escaped.

    A glob (not `%04d`) because the image2 demuxer stops at the first missing frame.
    """
    escaped = re.sub(r"([\\*?\[\]{}])", r"\\\1", str(pattern))
    return re.sub(r"#+", lambda m: "[0-9]" * len(m.group(0)), escaped)


def _scale(max_width: int) -> str:
    """Fit within max_width, never upscale, keep aspect, both sides even (yuv420p needs it)."""
    return f"scale=w='trunc(min({max_width},iw)/2)*2':h=-2"


def _input(source: Path, sequence: Mapping[str, Any] | None) -> list[str]:
    if sequence:
        return ["-framerate", str(sequence["fps"]), "-pattern_type", "glob", "-f", "image2",
                "-i", sequence_glob(source)]
    return ["-i", str(source)]


def filter_value(value: str) -> str:
    """Escape a filter option value for both levels ffmpeg parses: the option list
    (backslash, quote, colon) and then the filtergraph (also brackets, comma, semicolon)."""
    option = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def drawtext_filter(textfile: Path) -> str:
    """Burn-in read from a file with expansion off: no quote, colon or % in a name matters."""
    return (f"drawtext=textfile={filter_value(str(textfile))}:expansion=none:fontcolor=white:"
            "fontsize=h/30:box=1:boxcolor=black@0.5:x=10:y=h-th-10")


def proxy_args(source: Path, output: Path, options: Mapping[str, Any],
               sequence: Mapping[str, Any] | None = None, burn_in: Path | None = None,
               has_audio: bool = True) -> list[str]:
    """H.264 review proxy: yuv420p, even size within max_width, +faststart, AAC audio."""
    filters = [_scale(int(options.get("max_width", 1920)))]
    if burn_in is not None:
        filters.append(drawtext_filter(burn_in))
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
            "-progress", "pipe:1", "-nostats", *_input(source, sequence),
            "-map", "0:v:0", "-vf", ",".join(filters),
            "-c:v", str(options.get("codec", "libx264")),
            "-preset", str(options.get("x264_preset", "fast")),
            "-pix_fmt", str(options.get("pix_fmt", "yuv420p"))]
    if "bitrate" in options:
        args += ["-b:v", str(options["bitrate"])]
    else:
        args += ["-crf", str(options.get("crf", 23))]
    if has_audio and not sequence and options.get("audio", True):
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", str(options.get("audio_bitrate", "192k"))]
    else:
        args += ["-an"]
    return [*args, "-movflags", "+faststart", str(output)]


def thumbnail_args(source: Path, output: Path, options: Mapping[str, Any],
                   at_seconds: float) -> list[str]:
    """One frame from the middle of the clip (for a sequence: its middle frame), scaled down."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
            "-ss", f"{max(at_seconds, 0.0):.3f}", "-i", str(source),
            "-frames:v", "1", "-vf", _scale(int(options.get("max_width", 640))),
            "-update", "1", str(output)]


def _rate(value: str | None) -> float | None:
    try:
        rate = Fraction(value) if value else None
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(rate), 3) if rate else None


def _num(value: Any, kind: type = float) -> Any:
    try:
        return kind(value) if value not in (None, "N/A") else None
    except (TypeError, ValueError):
        return None


def summarize_probe(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The technical metadata a TD looks at, out of ffprobe's full JSON."""
    fmt = raw.get("format", {})
    streams = []
    for s in raw.get("streams", []):
        tags = s.get("tags", {})
        entry = {
            "index": s.get("index"),
            "type": s.get("codec_type"),
            "codec": s.get("codec_name"),
            "profile": s.get("profile"),
        }
        if s.get("codec_type") == "video":
            entry.update({
                "width": s.get("width"), "height": s.get("height"), "pix_fmt": s.get("pix_fmt"),
                "fps": _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate")),
                "frames": _num(s.get("nb_frames"), int),
                "color_primaries": s.get("color_primaries"),
                "color_transfer": s.get("color_transfer"),
                "color_space": s.get("color_space"),
                "timecode": tags.get("timecode"),
            })
        elif s.get("codec_type") == "audio":
            entry.update({"channels": s.get("channels"),
                          "sample_rate": _num(s.get("sample_rate"), int)})
        streams.append({k: v for k, v in entry.items() if v is not None})
    tc = fmt.get("tags", {}).get("timecode") or next(
        (s.get("timecode") for s in streams if s.get("timecode")), None)
    video = next((s for s in streams if s.get("type") == "video"), {})
    summary = {
        "container": fmt.get("format_name"),
        "duration": _num(fmt.get("duration")),
        "size": _num(fmt.get("size"), int),
        "bit_rate": _num(fmt.get("bit_rate"), int),
        "timecode": tc,
        "width": video.get("width"),
        "height": video.get("height"),
        "fps": video.get("fps"),
        "video_codec": video.get("codec"),
        "frames": video.get("frames"),
        "streams": streams,
    }
    return {k: v for k, v in summary.items() if v is not None}
