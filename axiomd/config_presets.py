"""What each job kind's preset accepts: `[transcode.presets.NAME]` options, one dataclass a kind.

The fields are the allowed keys, their types and their defaults (the consumers read these
options from `Preset.options`); add an option by adding a field.
"""

from __future__ import annotations

from dataclasses import dataclass

from axiomd.config_schema import setting

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
BITRATE = (r"[0-9]+(\.[0-9]+)?[kKmM]?", "a bitrate such as 8M or 192k")


@dataclass(frozen=True)
class ProbeOptions:
    """`probe` reads technical metadata and checks `[qc.SHOW]`; it has no options."""


@dataclass(frozen=True)
class ProxyOptions:
    """H.264 review movie; `bitrate` (e.g. "8M") replaces constant-quality `crf`."""

    max_width: int = setting(1920, at_least=2)
    crf: int = setting(23, at_least=0, at_most=51)
    bitrate: str | int | None = setting(None, pattern=BITRATE, at_least=1)
    x264_preset: str = setting("fast", choices=X264_PRESETS)
    pix_fmt: str = setting("yuv420p", pattern=(r"[a-z0-9_]+", "a pixel format such as yuv420p"))
    codec: str = "libx264"
    audio: bool = True
    audio_bitrate: str | int = setting("192k", pattern=BITRATE, at_least=1)
    burn_in: bool = False
    stall_seconds: float = setting(120.0, above=0)


@dataclass(frozen=True)
class ThumbnailOptions:
    """One still from the middle of the clip."""

    max_width: int = setting(640, at_least=2)
    format: str = setting("jpg", choices=("jpg", "jpeg", "png"))
    stall_seconds: float = setting(120.0, above=0)


@dataclass(frozen=True)
class NoopOptions:
    """Does nothing; for smoke tests of the queueing."""

    sleep_seconds: float = setting(0.0, at_least=0)
    fail_message: str = ""


PRESET_KINDS: dict[str, type] = {"noop": NoopOptions, "probe": ProbeOptions,
                                 "proxy": ProxyOptions, "thumbnail": ThumbnailOptions}
