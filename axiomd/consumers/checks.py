"""Is an output true to its source? Pure judgements over what ffmpeg said and ffprobe saw.

ffmpeg exits 0 after hundreds of decoding errors and writes a green movie of the right
length; so a proxy is trusted only when the decoder stayed quiet and the proxy's frame
count and duration match the source's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from axiomd.consumers.probe_summary import Shape

# What libavcodec's decoders (and ffmpeg's decode loop) write at error level when a
# picture or an audio frame comes out wrong or not at all.
_DECODE_ERROR = re.compile(
    r"error while decoding|decode_slice_header error|conceal|invalid nal unit|"
    r"splitting the input into nal units|corrupt|invalid data found when processing input|"
    r"missing picture in access unit|header missing|no frame!|non-existing [sp]ps|mmco|"
    r"error in (?:the )?bitstream|cbp too large|out of range intra",
    re.IGNORECASE)

FLAT_RANGE = 8  # code values; JPEG leaves a few on a flat colour
# A flat picture compresses to almost nothing; a source carrying more than this many bits
# per pixel per frame is not flat, whatever its decoded thumbnail looks like.
NOT_FLAT_BITS_PER_PIXEL = 0.05


def is_decode_error(line: str) -> bool:
    return bool(_DECODE_ERROR.search(line))


@dataclass(frozen=True)
class OutputFacts:
    """What a rendered proxy holds, read from its MP4 index or counted by ffprobe."""

    video_frames: int | None = None
    video_duration: float | None = None
    audio_duration: float | None = None
    audio_tracks: int = 0


def proxy_problems(source: Shape, proxy: OutputFacts) -> list[str]:
    """Why the proxy does not stand for the source; empty when it does.

    A constant-frame-rate source must keep its frame count (±1) and its duration (within
    one frame); a variable-rate one only its duration, since the proxy is made constant.
    """
    problems: list[str] = []
    if source.kind == "audio":
        if source.duration and proxy.audio_duration is not None and \
                abs(proxy.audio_duration - source.duration) > 0.1:
            problems.append(f"the proxy's audio lasts {proxy.audio_duration:.3f} s, "
                            f"the source {source.duration:.3f} s")
        return problems
    if proxy.video_frames is None:
        return ["the proxy has no video frames ffprobe can count"]
    if source.frames and not source.vfr and abs(proxy.video_frames - source.frames) > 1:
        problems.append(f"the proxy has {proxy.video_frames} frames, the source "
                        f"{source.frames}")
    frame = source.frame_seconds or 0.04
    if source.kind in ("movie", "sequence") and source.duration and \
            proxy.video_duration is not None and \
            abs(proxy.video_duration - source.duration) > frame + 0.001:
        problems.append(f"the proxy lasts {proxy.video_duration:.3f} s, the source "
                        f"{source.duration:.3f} s (more than one frame apart)")
    if proxy.audio_tracks != source.audio_tracks:
        problems.append(f"the proxy has {proxy.audio_tracks} audio tracks, the source "
                        f"{source.audio_tracks}")
    return problems


def is_flat(stats: Mapping[str, float]) -> bool:
    """signalstats of one picture: every plane within a few code values of one colour."""
    planes = ("Y", "U", "V")
    try:
        return all(stats[f"{p}MAX"] - stats[f"{p}MIN"] <= FLAT_RANGE for p in planes)
    except KeyError:
        return False


def source_is_busy(bits_per_pixel: float | None) -> bool:
    return bits_per_pixel is not None and bits_per_pixel > NOT_FLAT_BITS_PER_PIXEL


def bits_per_pixel(summary: Mapping[str, object]) -> float | None:
    """Compressed bits per displayed pixel per frame: how much picture the file carries."""
    width, height = summary.get("width"), summary.get("height")
    if not isinstance(width, int) or not isinstance(height, int) or not width * height:
        return None
    size, bit_rate, fps = summary.get("size"), summary.get("bit_rate"), summary.get("fps")
    frames = summary.get("frames")
    if isinstance(size, int | float) and isinstance(frames, int) and frames > 0:
        return float(size) * 8 / frames / (width * height)
    if isinstance(bit_rate, int | float) and isinstance(fps, int | float) and fps:
        return float(bit_rate) / float(fps) / (width * height)
    return None


def held_frames(present: Sequence[int]) -> list[int]:
    """For every frame number from first to last, the frame that plays there: a missing
    frame holds the one before it, so the proxy keeps the sequence's length and timing."""
    have = sorted(set(present))
    if not have:
        return []
    out, current, wanted = [], have[0], set(have)
    for number in range(have[0], have[-1] + 1):
        if number in wanted:
            current = number
        out.append(current)
    return out
