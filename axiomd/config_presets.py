"""Presets: `[transcode.presets.NAME]` tables, and what each job kind accepts in one.

One dataclass a kind: its fields are the allowed options, their types and their defaults
(the consumers read them from `Preset.options`); add an option by adding a field.
`Preset` and `DEFAULT_PRESETS` are used through `axiomd.config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from axiomd.config_schema import BAD, Checker, setting

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
DEFAULT_PRESETS: dict[str, dict[str, Any]] = {
    "probe": {"kind": "probe"},
    "proxy_h264": {"kind": "proxy"},
    "thumbnail": {"kind": "thumbnail"},
}
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
    audio: bool | str = setting(True, choices=("mix",))  # false: no sound; "mix": one track
    audio_bitrate: str | int = setting("192k", pattern=BITRATE, at_least=1)
    burn_in: bool | Mapping[str, str] = False  # true: the four default corners; or corner = template
    slate: bool = False
    slate_note: str = ""
    keyframe_seconds: float = setting(1.0, above=0)
    alpha_background: str = setting("checkerboard", choices=("black", "grey", "checkerboard"))
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


@dataclass(frozen=True)
class Preset:
    """A named job a version gets: its kind (`probe`, `proxy`, `thumbnail`, …) and options.

    `options` holds every option of the kind, defaults filled in (unset `bitrate` left out).
    """

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)


def read_preset(check: Checker, raw: Any, key: str, name: str) -> Any:
    """A `[transcode.presets.NAME]` table, its options checked against its kind's dataclass.

    A built-in preset's name implies its kind; any other preset must give one.
    """
    if not isinstance(raw, dict):
        check.add(key, f"expected a table, got {raw!r}")
        return BAD
    options = {**DEFAULT_PRESETS.get(name, {}), **raw}
    if "kind" not in options:
        check.add(f"{key}.kind", f"missing: one of {', '.join(PRESET_KINDS)}")
        return BAD
    kind = check.value(options.pop("kind"), str, f"{key}.kind",
                       {"choices": tuple(PRESET_KINDS)})
    if kind is BAD:
        return BAD
    if "crf" in raw and "bitrate" in raw:
        check.add(f"{key}.bitrate", "give crf (constant quality) or bitrate, not both")
    settings = check.table(options, key, PRESET_KINDS[kind])
    if settings is BAD:
        return BAD
    values = {k: v for k, v in dataclasses.asdict(settings).items() if v is not None}
    return Preset(name=name, kind=kind, options=values)
