"""Review dressing: burn-ins, the slate frame, scrub-friendly keyframes, and a background
behind alpha sources. Pure: texts and filter lists; the caller writes the text files.

Text reaches drawtext through files, never through the filtergraph, so a name with `:`,
`'`, `%` or `\\` only needs drawtext's own escaping (backslash before `\\` and `%`), and
the live fields are drawtext expansions: `{frame}` is the source frame number
(`%{eif:n+…}`), `{timecode}` is counted from the source's start timecode.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from axiomd.consumers.ffmpeg_args import filter_value
from axiomd.errors import ConfigError

CORNERS = {"top_left": ("10", "10"), "top_right": ("w-tw-10", "10"),
           "bottom_left": ("10", "h-th-10"), "bottom_right": ("w-tw-10", "h-th-10")}
STATIC_FIELDS = ("asset", "version", "artist", "date", "show")
LIVE_FIELDS = ("frame", "timecode")
BACKGROUNDS = ("black", "grey", "checkerboard")
DEFAULT_BURN_IN = MappingProxyType({"top_left": "{show} {asset}", "top_right": "{version}",
                                    "bottom_left": "{artist} {date}",
                                    "bottom_right": "{frame} {timecode}"})


@dataclass(frozen=True)
class Dressing:
    """A preset's dressing options: `burn_in` (true for the default corners, or a table of
    corner = template), `slate`, `slate_note`, `keyframe_seconds`, `alpha_background`."""

    burn_in: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    slate: bool = False
    slate_note: str = ""
    keyframe_seconds: float = 1.0
    alpha_background: str = "checkerboard"

    @classmethod
    def from_options(cls, options: Mapping[str, Any], key: str = "preset") -> Dressing:
        raw = options.get("burn_in", False)
        if raw is True:
            corners: Mapping[str, str] = DEFAULT_BURN_IN
        elif not raw:
            corners = {}
        elif isinstance(raw, Mapping):
            corners = {str(k): str(v) for k, v in raw.items()}
        else:
            raise ConfigError(f"{key}.burn_in: expected true/false or a table of corner = template")
        for corner, template in corners.items():
            if corner not in CORNERS:
                raise ConfigError(f"{key}.burn_in.{corner}: unknown corner "
                                  f"(known: {', '.join(CORNERS)})")
            template_fields(template, f"{key}.burn_in.{corner}")
        seconds = float(options.get("keyframe_seconds", 1.0))
        if seconds <= 0:
            raise ConfigError(f"{key}.keyframe_seconds: must be positive (got {seconds})")
        background = str(options.get("alpha_background", "checkerboard"))
        if background not in BACKGROUNDS:
            raise ConfigError(f"{key}.alpha_background: unknown background {background!r} "
                              f"(known: {', '.join(BACKGROUNDS)})")
        return cls(MappingProxyType(dict(corners)), bool(options.get("slate", False)),
                   str(options.get("slate_note", "")), seconds, background)


@dataclass(frozen=True)
class ReviewFields:
    """What a burn-in or slate can show about the version being reviewed."""

    asset: str
    version: str
    first_frame: int = 1001
    last_frame: int | None = None
    fps: float = 24.0
    timecode: str | None = None
    artist: str = ""
    date: str = ""
    show: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def static(self) -> dict[str, str]:
        return {**{k: str(v) for k, v in self.extra.items()}, "asset": self.asset,
                "version": self.version, "artist": self.artist, "date": self.date,
                "show": self.show}


def template_fields(template: str, key: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"{key}: cannot read template {template!r}: {exc}") from exc
    return names


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%")


def _timecode_frames(timecode: str | None, rate: int, fallback: int) -> int:
    if not timecode:
        return fallback
    try:
        hh, mm, ss, ff = (int(p) for p in timecode.replace(";", ":").split(":"))
    except ValueError:
        return fallback
    return ((hh * 60 + mm) * 60 + ss) * rate + ff


def _live(name: str, fields: ReviewFields, slate_frames: int) -> str:
    if name == "frame":
        return f"%{{eif:n+{fields.first_frame - slate_frames}:d}}"
    rate = max(1, round(fields.fps))
    start = _timecode_frames(fields.timecode, rate, fields.first_frame) - slate_frames
    f = f"(n+{start})"
    parts = [f"mod(floor({f}/{rate * 3600}),24)", f"mod(floor({f}/{rate * 60}),60)",
             f"mod(floor({f}/{rate}),60)", f"mod({f},{rate})"]
    return ":".join(f"%{{eif:{p}:d:2}}" for p in parts)


def burn_in_text(template: str, fields: ReviewFields, slate_frames: int = 0,
                 key: str = "burn_in") -> str:
    """One corner's text in drawtext's expansion syntax, names escaped, live fields live."""
    known = fields.static()
    out = []
    for literal, name, spec, conv in string.Formatter().parse(template):
        out.append(_escape(literal))
        if name is None:
            continue
        if name in LIVE_FIELDS:
            out.append(_live(name, fields, slate_frames))
        elif name in known:
            out.append(_escape(format(known[name], spec or "") if not conv else known[name]))
        else:
            raise ConfigError(f"{key}: unknown field {{{name}}} "
                              f"(known: {', '.join([*LIVE_FIELDS, *sorted(known)])})")
    return "".join(out)


def _drawtext(textfile: Path, expansion: str, extra: str) -> str:
    return (f"drawtext=textfile={filter_value(str(textfile))}:expansion={expansion}:"
            f"fontcolor=white:box=1:boxcolor=black@0.5:boxborderw=4:{extra}")


def burn_in_filters(textfiles: Mapping[str, Path], slate: bool) -> list[str]:
    """One drawtext per corner, off on the slate frame."""
    enable = f":enable={filter_value('gte(n,1)')}" if slate else ""
    return [_drawtext(path, "normal", f"fontsize=h/30:x={CORNERS[corner][0]}:"
                                      f"y={CORNERS[corner][1]}{enable}")
            for corner, path in textfiles.items()]


def slate_text(fields: ReviewFields, note: str = "") -> str:
    last = fields.last_frame if fields.last_frame is not None else fields.first_frame
    lines = [f"{fields.show}  {fields.asset}".strip(), f"version  {fields.version}",
             f"artist  {fields.artist}", f"date  {fields.date}",
             f"frames  {fields.first_frame}-{last}"]
    if note:
        lines.append(note)
    return "\n".join(lines)


def slate_filters(textfile: Path) -> list[str]:
    """A black frame ahead of the picture with the slate text (expansion off)."""
    return ["tpad=start=1:start_mode=add:color=black",
            _drawtext(textfile, "none", "fontsize=h/16:line_spacing=8:x=(w-tw)/2:"
                                        f"y=(h-th)/2:enable={filter_value('eq(n,0)')}")]


def slate_audio_filters(fps: float) -> list[str]:
    """Audio moved by the slate's one frame, so picture and sound stay in sync."""
    return [f"adelay=delays={1000.0 / fps:.3f}:all=1"]


def keyframe_args(fps: float, seconds: float = 1.0) -> list[str]:
    """At least one keyframe every `seconds` of proxy, so a reviewer can scrub."""
    return ["-g", str(max(1, int(fps * seconds)))]


def background_filters(kind: str, width: int, height: int) -> list[str]:
    """Composite a straight-alpha RGBA picture over a flat or checkered background (RGB
    out), so a matte shows as a shape instead of as whatever a player does with alpha.
    (overlay's own premultiplied mode offsets planar RGB by 16 in ffmpeg 5.1, so
    premultiplied sources are unpremultiplied before their colour transform instead.)"""
    tile = 16
    lum = {"black": "0", "grey": "128",
           "checkerboard": "if(mod(X+Y,2),102,153)"}[kind]
    background = (f"format=gray,scale=w=ceil(iw/{tile}):h=ceil(ih/{tile}),"
                  f"geq=lum={filter_value(lum)},"
                  f"scale=w=iw*{tile}:h=ih*{tile}:flags=neighbor,crop={width}:{height}:0:0,"
                  "format=gbrp")
    return [f"split[axfg][axbg];[axbg]{background}[axbgc];"
            "[axbgc][axfg]overlay=format=gbrp:alpha=straight:shortest=1", "format=gbrp"]
