"""Version arithmetic: labels, and which number a new version gets. Pure, no I/O."""

from __future__ import annotations

import re

from axiomd.errors import VersionConflict, VersionGap

_LABEL = re.compile(r"[vV]?([0-9]+)\Z")


def version_label(number: int) -> str:
    """`3` → `v003`: the label artists and the CLI use."""
    return f"v{number:03d}"


def parse_label(label: str) -> int:
    """`v003`, `V3` or `3` → `3`."""
    match = _LABEL.match(label.strip())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{label!r} is not a version label like v003")
    return int(match.group(1))


def choose_number(next_number: int, requested: int | None, policy: str, asset: str,
                  allow_gap: bool = False) -> int:
    """The number a new version gets, given what the file name asked for.

    Numbers stay dense: a requested number is honoured only when it is exactly the
    next one. A number past the next one may be early rather than wrong (a lower one
    is still being copied, or another watcher holds it), so it raises `VersionGap`
    until the caller has waited long enough to pass `allow_gap`. Then, and for a number
    already taken, `reject` refuses the file and `renumber` gives it the next number;
    an existing version is never overwritten.
    """
    if requested is None or requested == next_number:
        return next_number
    if requested > next_number and not allow_gap:
        raise VersionGap(asset, requested, next_number)
    if policy == "renumber":
        return next_number
    problem = (f"{version_label(requested)} of {asset} already exists"
               if requested < next_number else f"{version_label(requested)} would leave a gap")
    raise VersionConflict(
        f"{problem}; the next version of {asset} is {version_label(next_number)}. "
        f"Rename the file to {version_label(next_number)}, or ask a TD to set "
        f"version_policy = \"renumber\" for this drop root",
        next_number=next_number,
    )
