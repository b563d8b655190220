"""FFmpeg and ffprobe argument lists. Pure: no processes are started here.

Lists only, never a shell string: file names come from artists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axiomd.consumers.probe_summary import summarize_probe as summarize_probe  # old home


def probe_args(source: Path, sequence: Mapping[str, Any] | None = None) -> list[str]:
    return ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            *_input(source, sequence)]


def first_frame_args(source: Path) -> list[str]:
    """The first video frame's side data: where HEVC and AV1 carry HDR mastering metadata."""
    return ["ffprobe", "-v", "error", "-read_intervals", "%+#1", "-select_streams", "v:0",
            "-show_frames", "-print_format", "json", str(source)]


def sequence_glob(pattern: Path) -> str:
    """`…/name.####.exr` → a glob for exactly its frames, every other glob character escaped.

    A glob (not `%04d`) because the image2 demuxer stops at the first missing frame.
    """
    escaped = re.sub(r"([\\*?\[\]{}])", r"\\\1", str(pattern))
    return re.sub(r"#+", lambda m: "[0-9]" * len(m.group(0)), escaped)


def _scale(max_width: int) -> str:
    """Square pixels at the display aspect, within max_width, both sides even (yuv420p
    needs it). An anamorphic source is widened (or narrowed) by its pixel aspect here, so
    no player has to honour a flag; never upscaled beyond its display width."""
    return (f"scale=w='max(2,trunc(min({max_width},iw*sar)/2)*2)':"
            "h='max(2,round(ow/dar/2)*2)',setsar=1")


def _input(source: Path, sequence: Mapping[str, Any] | None) -> list[str]:
    if sequence and "pattern" in sequence:
        return ["-framerate", str(sequence["fps"]), "-start_number", "0", "-f", "image2",
                "-i", str(sequence["pattern"])]
    if sequence:
        return ["-framerate", str(sequence["fps"]), "-pattern_type", "glob", "-f", "image2",
                "-i", sequence_glob(source)]
    return ["-i", str(source)]


def held_frame_name(index: int, ext: str) -> str:
    """The name of the proxy's frame `index` in a folder of links made for a sequence."""
    return f"{index:06d}.{ext}"


def held_frame_pattern(folder: Path, ext: str) -> str:
    return str(folder / f"%06d.{ext}")


def filter_value(value: str) -> str:
    """Escape a filter option value for both levels ffmpeg parses: the option list
    (backslash, quote, colon) and then the filtergraph (also brackets, comma, semicolon)."""
    option = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def drawtext_filter(textfile: Path) -> str:
    """Burn-in read from a file with expansion off: no quote, colon or % in a name matters."""
    return (f"drawtext=textfile={filter_value(str(textfile))}:expansion=none:fontcolor=white:"
            "fontsize=h/30:box=1:boxcolor=black@0.5:x=10:y=h-th-10")


@dataclass(frozen=True)
class Look:
    """What colour management and dressing add to a command (`consumers/review.py`):
    filters before the scale and after it, output options, audio filters."""

    pre: Sequence[str] = ()
    post: Sequence[str] = ()
    output: Sequence[str] = ()
    audio: Sequence[str] = ()


PLAIN = Look()


def picture_filters(max_width: int, parity: str | None = None,
                    burn_in: Path | None = None, look: Look = PLAIN) -> str:
    """Deinterlace by the source's field order (one frame out per frame in), colour, then
    scale, then burn-ins and slate."""
    filters = []
    if parity in ("tff", "bff"):
        filters.append(f"bwdif=mode=send_frame:parity={parity}:deint=all")
    filters += look.pre
    filters.append(_scale(max_width))
    filters += look.post
    if burn_in is not None:
        filters.append(drawtext_filter(burn_in))
    return ",".join(filters)


def _audio_args(options: Mapping[str, Any], tracks: int) -> list[str]:
    """Every audio track, each as its own AAC track (titles kept); or, with the preset's
    `audio = "mix"`, all tracks mixed into one."""
    codec = ["-c:a", "aac", "-b:a", str(options.get("audio_bitrate", "192k"))]
    if options.get("audio") == "mix" and tracks > 1:
        inputs = "".join(f"[0:a:{i}]" for i in range(tracks))
        return ["-filter_complex", f"{inputs}amix=inputs={tracks}:normalize=0[mix]",
                "-map", "[mix]", *codec]
    return ["-map", "0:a?", *codec]


def proxy_args(source: Path, output: Path, options: Mapping[str, Any],
               sequence: Mapping[str, Any] | None = None, burn_in: Path | None = None,
               has_audio: bool = True, parity: str | None = None,
               audio_tracks: int | None = None, look: Look = PLAIN) -> list[str]:
    """H.264 review proxy: yuv420p, square pixels, even size within max_width,
    deinterlaced, +faststart, every audio track as AAC."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
            "-progress", "pipe:1", "-nostats", *_input(source, sequence),
            "-map", "0:v:0",
            "-vf", picture_filters(int(options.get("max_width", 1920)), parity, burn_in, look),
            "-c:v", str(options.get("codec", "libx264")),
            "-preset", str(options.get("x264_preset", "fast")),
            "-pix_fmt", str(options.get("pix_fmt", "yuv420p"))]
    if "bitrate" in options:
        args += ["-b:v", str(options["bitrate"])]
    else:
        args += ["-crf", str(options.get("crf", 23))]
    if has_audio and not sequence and options.get("audio", True):
        args += _audio_args(options, audio_tracks if audio_tracks is not None else 1)
        if look.audio and options.get("audio") != "mix":
            args += ["-af", ",".join(look.audio)]
    else:
        args += ["-an"]
    return [*args, *look.output, "-movflags", "+faststart", str(output)]


def audio_proxy_args(source: Path, output: Path, options: Mapping[str, Any],
                     audio_tracks: int = 1) -> list[str]:
    """Review copy of a sound file: AAC in .m4a, every track kept (or mixed)."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
            "-progress", "pipe:1", "-nostats", "-i", str(source), "-vn",
            *_audio_args(options, audio_tracks), "-movflags", "+faststart", str(output)]


def thumbnail_args(source: Path, output: Path, options: Mapping[str, Any],
                   at_seconds: float, parity: str | None = None,
                   look: Look = PLAIN) -> list[str]:
    """One frame from the middle of the clip (for a sequence: its middle frame), scaled
    down; from the start, with no seek at all, for a still or a one-frame clip."""
    seek = ["-ss", f"{at_seconds:.3f}"] if at_seconds > 0 else []
    return ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
            *seek, "-i", str(source),
            "-frames:v", "1",
            "-vf", picture_filters(int(options.get("max_width", 640)), parity, look=look),
            *look.output, "-update", "1", str(output)]


def thumbnail_time(duration: float | None, fps: float | None, frames: int | None) -> float:
    """The middle of the clip, but never past the start of its last frame."""
    if not duration or (frames is not None and frames <= 1):
        return 0.0
    last_frame_start = duration - (1 / fps if fps else 0.04)
    return max(0.0, min(duration / 2, last_frame_start))


def waveform_args(source: Path, output: Path, options: Mapping[str, Any]) -> list[str]:
    """A sound file's thumbnail: its waveform, one row per channel."""
    width = int(options.get("max_width", 640))
    return ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-loglevel", "error",
            "-i", str(source), "-filter_complex",
            f"[0:a:0]showwavespic=s={width}x{max(2, width * 3 // 8 // 2 * 2)}:"
            "split_channels=1:colors=white[w]",
            "-map", "[w]", "-frames:v", "1", "-update", "1", str(output)]


def count_args(path: Path) -> list[str]:
    """ffprobe counting a rendered output's packets per stream: cheap on a small proxy."""
    return ["ffprobe", "-v", "error", "-count_packets", "-print_format", "json",
            "-show_entries", "stream=codec_type,nb_read_packets,duration", str(path)]


def signalstats_args(picture: Path) -> list[str]:
    """Per-plane minimum and maximum of one picture, printed to stdout."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(picture),
            "-vf", "signalstats,metadata=mode=print:file=-", "-f", "null", "-"]
