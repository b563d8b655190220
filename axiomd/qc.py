"""Technical QC: does a version's probed media match its show's delivery spec? Pure.

Specs come from `[qc.SHOW]` tables (`fps`, `width`, `height`, `codec`, `pix_fmt`,
`color_space`, `policy = "warn"` or `"reject"`). Each difference is one readable line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHECKED = ("fps", "width", "height", "codec", "pix_fmt", "color_space")


@dataclass(frozen=True)
class QcSpec:
    show: str
    expected: Mapping[str, Any]
    policy: str = "warn"


def qc_findings(media: Mapping[str, Any], spec: QcSpec) -> list[str]:
    """What differs from the spec, e.g. `fps is 25 (spec: 24)`; empty when it all matches."""
    video = next((s for s in media.get("streams", []) if s.get("type") == "video"), {})
    actual = {
        "fps": media.get("fps"),
        "width": media.get("width"),
        "height": media.get("height"),
        "codec": media.get("video_codec"),
        "pix_fmt": video.get("pix_fmt"),
        "color_space": video.get("color_space"),
    }
    findings = []
    for key in CHECKED:
        if key not in spec.expected:
            continue
        want, got = spec.expected[key], actual.get(key)
        same = (abs(float(got) - float(want)) < 0.01 if key == "fps" and got is not None
                else str(got) == str(want))
        if not same:
            findings.append(f"{key} is {got if got is not None else 'unknown'} "
                            f"(spec for {spec.show}: {want})")
    return findings
