"""What artists see in their drop folders: `_rejected/` and `_duplicates/` with a note.

A file is never deleted and never overwritten here: if the target name is taken, the
moved file gets `-1`, `-2`, … before its extension.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REJECTED = "_rejected"
DUPLICATES = "_duplicates"
WORKDIR = ".axiomd"
RESERVED = (REJECTED, DUPLICATES, WORKDIR)


def is_ignored(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def free_name(target: Path) -> Path:
    if not target.exists() and not target.is_symlink():
        return target
    stem, suffix = target.stem, target.suffix
    n = 1
    while True:
        candidate = target.with_name(f"{stem}-{n}{suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        n += 1


def set_aside(root: Path, relpath: Path, current: Path, folder: str, note: str | None) -> Path:
    """Move `current` (the file at `relpath` in `root`) into `root/folder/` with a note."""
    target = free_name(root / folder / relpath)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(current, target)
    if note is not None:
        set_aside_note(root, target.relative_to(root / folder), folder, note)
    return target


def set_aside_note(root: Path, relpath: Path, folder: str, note: str) -> Path:
    """The note beside a set-aside file (or sequence): `<name>.rejected.txt`."""
    suffix = ".rejected.txt" if folder == REJECTED else ".duplicate.txt"
    sidecar = root / folder / relpath.parent / (relpath.name + suffix)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(note, encoding="utf-8")
    return sidecar


def rejection_note(name: str, reason: str, example: str | None, expected_template: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"axiomd could not take '{name}' ({stamp}).",
        "",
        f"Why: {reason}",
        "",
        f"Names in this folder follow: {expected_template}",
    ]
    if example:
        lines.append(f"A name that would work: {example}")
    lines += ["", "Nothing was deleted. Rename the file and drop it in again."]
    return "\n".join(lines) + "\n"


def duplicate_note(name: str, reason: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"axiomd did not make a new version from '{name}' ({stamp}).\n\n{reason}\n\n"
            "Nothing was deleted. If you meant to publish new work, check you saved it.\n")
