"""Technical QC: does a version's probed media match its show's delivery spec? Pure.

Specs come from `[qc.SHOW]` tables (`fps`, `width`, `height`, `codec`, `pix_fmt`,
`color_space`, `policy = "warn"` or `"reject"`). Each difference is one readable line.
QC judges what the viewer sees: a rotated clip by its turned size, an anamorphic one by
its display size, a still by no frame rate at all, a variable-rate clip as VFR; and a
pixel format by what the file stores (an EXR's `half` or `float`, a DPX's `10bit`), not
only by the decoder's output format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHECKED = ("fps", "width", "height", "codec", "pix_fmt", "color_space")


@dataclass(frozen=True)
class QcSpec:
    show: str
    expected: Mapping[str, Any]
    policy: str = "warn"


def _fps(media: Mapping[str, Any], want: Any) -> str | None:
    kind = media.get("kind")
    if kind in ("still", "audio"):
        return None
    got = media.get("fps")
    if media.get("vfr"):
        average = f", average {got}" if got is not None else ""
        return f"fps is variable (VFR{average})"
    if got is None or abs(float(got) - float(want)) >= 0.01:
        return f"fps is {got if got is not None else 'unknown'}"
    return None


def _pix_fmt_names(media: Mapping[str, Any], video: Mapping[str, Any]) -> set[str]:
    """Every name the stored pixels answer to: the decoder's format and what the file is."""
    names = {str(video.get("pix_fmt"))}
    if media.get("pixel_type"):
        names.add(str(media["pixel_type"]))
    if video.get("bit_depth"):
        names.add(f"{video['bit_depth']}bit")
    return names


def qc_findings(media: Mapping[str, Any], spec: QcSpec) -> list[str]:
    """What differs from the spec, e.g. `fps is 25 (spec: 24)`; empty when it all matches."""
    video = next((s for s in media.get("streams", []) if s.get("type") == "video"), {})
    audio_only = media.get("kind") == "audio"
    findings = []
    for key in CHECKED:
        if key not in spec.expected or audio_only:
            continue
        want = spec.expected[key]
        if key == "fps":
            finding = _fps(media, want)
        elif key == "pix_fmt":
            names = _pix_fmt_names(media, video)
            shown = video.get("pix_fmt")
            if media.get("pixel_type"):
                shown = f"{shown} ({media['pixel_type']} in the file)"
            finding = None if str(want) in names else f"pix_fmt is {shown or 'unknown'}"
        else:
            got = {
                "width": media.get("display_width", media.get("width")),
                "height": media.get("display_height", media.get("height")),
                "codec": media.get("video_codec"),
                "color_space": video.get("color_space"),
            }[key]
            finding = (None if str(got) == str(want)
                       else f"{key} is {got if got is not None else 'unknown'}")
        if finding:
            findings.append(f"{finding} (spec for {spec.show}: {want})")
    return findings


def sequence_findings(missing: Sequence[int]) -> list[str]:
    """A gap in a sequence is worth a look whatever the show's spec says."""
    if not missing:
        return []
    shown = ", ".join(str(n) for n in list(missing)[:10]) + (" …" if len(missing) > 10 else "")
    plural = "s" if len(missing) != 1 else ""
    return [f"sequence is missing {len(missing)} frame{plural} ({shown}); "
            "the proxy holds the previous frame there"]
