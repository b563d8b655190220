"""What artists see in their drop folders: `_rejected/` and `_duplicates/` with a note.

A file is never deleted and never overwritten here: if the target name is taken, the
moved file gets `-1`, `-2`, … before its extension.

Anyone who can write the drop root can put a symlink (or a plain file) where a reserved
folder should be. Reserved folders are therefore walked with directory descriptors,
each opened with `O_NOFOLLOW`, and every name inside is created relative to them: a
link is never followed. Whatever stands in a reserved folder's place is reported, moved
aside as `<name>.replaced-<time>`, and a real folder is made.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from axiomd.errors import SidecarInvalid
from axiomd.log import get_logger

log = get_logger("watcher")

REJECTED = "_rejected"
DUPLICATES = "_duplicates"
ACCEPTED = "_accepted"
SIDECAR = ".axiomd.json"  # `NAME.axiomd.json` beside a dropped file: its publish context
WORKDIR = ".axiomd"
RESERVED = (REJECTED, DUPLICATES, ACCEPTED, WORKDIR)
_NOTE_SUFFIX = {REJECTED: ".rejected.txt", DUPLICATES: ".duplicate.txt", ACCEPTED: ".txt"}
MAX_NAME = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class RootUnwritable(Exception):
    """The drop root refuses this process's writes (permissions, a read-only mount)."""

    def __init__(self, root: str, path: Path, cause: OSError) -> None:
        super().__init__(f"drop root {root} ({path}) refuses this watcher's writes "
                         f"({cause.strerror}): files there wait until it can move them")


def _fits(name: str, limit: int = MAX_NAME) -> str:
    """`name`, its stem shortened so that it fits in `limit` bytes (the extension kept)."""
    raw = os.fsencode(name)
    if len(raw) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(os.fsencode(ext)) > 16:
        stem, ext = name, ""
    tail = os.fsencode("." + ext) if ext else b""
    head = os.fsencode(stem)[: limit - len(tail)]
    return head.decode("utf-8", "ignore") + os.fsdecode(tail)


def _open_child(parent: int, name: str, shown: Path) -> int:
    """The folder `name` in `parent`, made if missing, never through a link."""
    for _ in range(3):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            aside = _fits(f"{name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
            os.rename(name, aside, src_dir_fd=parent, dst_dir_fd=parent)
            log.error("watch.reserved_folder_replaced", path=str(shown),
                      moved_to=str(shown.with_name(aside)),
                      found="symlink" if exc.errno == errno.ELOOP else "not a folder")
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=parent)
    raise OSError(errno.ELOOP, f"{shown} keeps being replaced; not followed")


@contextlib.contextmanager
def reserved_dir(root: Path, parts: Sequence[str]) -> Iterator[int]:
    """A descriptor for `root/parts…`, each folder made if missing and never a link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    shown = root
    try:
        for part in parts:
            shown = shown / part
            child = _open_child(fd, part, shown)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _exists_at(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def free_name_at(fd: int, name: str) -> str:
    """`name` in the folder `fd`, or `stem-1.ext`, `stem-2.ext`… if taken."""
    name = _fits(name)
    if not _exists_at(fd, name):
        return name
    stem, suffix = os.path.splitext(name)
    n = 1
    while True:
        candidate = _fits(f"{stem}-{n}{suffix}")
        if candidate != name and not _exists_at(fd, candidate):
            return candidate
        n += 1


def _write_at(fd: int, name: str, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        out = os.open(name, flags, 0o666, dir_fd=fd)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(name, dir_fd=fd)  # a planted link in the note's place: never written through
        out = os.open(name, flags | os.O_EXCL, 0o666, dir_fd=fd)
    try:
        data = text.encode()
        while data:
            data = data[os.write(out, data):]
    finally:
        os.close(out)


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
    with reserved_dir(root, [folder, *relpath.parent.parts]) as fd:
        name = free_name_at(fd, relpath.name)
        os.rename(current, name, dst_dir_fd=fd)
        if note is not None:
            _write_at(fd, note_name(name, folder), note)
    return root / folder / relpath.parent / name


def note_name(name: str, folder: str) -> str:
    """`<name>.rejected.txt`, the name shortened if that would not fit in 255 bytes."""
    suffix = _NOTE_SUFFIX[folder]
    room = MAX_NAME - len(suffix)
    raw = os.fsencode(name)
    return (name if len(raw) <= room else raw[:room].decode("utf-8", "ignore")) + suffix


def set_aside_note(root: Path, relpath: Path, folder: str, note: str) -> Path:
    """The note beside a set-aside file (or sequence): `<name>.rejected.txt`."""
    with reserved_dir(root, [folder, *relpath.parent.parts]) as fd:
        name = note_name(relpath.name, folder)
        _write_at(fd, name, note)
    return root / folder / relpath.parent / name


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


def receipt(name: str, asset: str, label: str, stored: Path, when: datetime) -> str:
    """What an artist finds in `_accepted/` for a file that became a version."""
    return (f"axiomd took '{name}' ({when.strftime('%Y-%m-%d %H:%M UTC')}).\n\n"
            f"It is {asset} {label}, stored as:\n{stored}\n\n"
            "The file left this folder because it is safe in the store; nothing else "
            "needs doing.\n")


class Receipt(NamedTuple):
    """What `write_receipts` writes for one accepted file: `text`, for the file at
    `relpath` in the drop root `root`."""

    root: Path
    relpath: Path
    text: str


def write_receipts(receipts: Sequence[Receipt]) -> list[tuple[Path, OSError]]:
    """Each receipt as `<root>/_accepted/<subfolders>/<name>.txt`, written without
    following links. Receipts that share a folder (a chunk's files mostly do) share its
    opening, once through the root, instead of once each. Returns the files whose
    receipts could not be written, with why."""
    folders: dict[tuple[Path, Path], list[Receipt]] = {}
    for made in receipts:
        folders.setdefault((made.root, made.relpath.parent), []).append(made)
    failed: list[tuple[Path, OSError]] = []
    for (root, folder), group in folders.items():
        try:
            with reserved_dir(root, [ACCEPTED, *folder.parts]) as fd:
                for made in group:
                    try:
                        _write_at(fd, note_name(made.relpath.name, ACCEPTED), made.text)
                    except OSError as exc:
                        failed.append((root / made.relpath, exc))
        except OSError as exc:
            failed += [(root / made.relpath, exc) for made in group]
    return failed


def prune_receipts(root: Path, older_than: float) -> int:
    """Delete receipts last written before `older_than` (a POSIX time); how many went."""
    folder = root / ACCEPTED
    if folder.is_symlink() or not folder.is_dir():
        return 0
    pruned = 0
    for path in folder.rglob("*.txt"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mtime < older_than:
            path.unlink(missing_ok=True)
            pruned += 1
    return pruned


@dataclass(frozen=True)
class Sidecar:
    """`NAME.axiomd.json`: who published and why, from a render farm or a publish tool."""

    note: str | None = None
    user: str | None = None
    task: str | None = None


_SIDECAR_KEYS = {"note": 4000, "user": 255, "task": 255}


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR)


def read_sidecar(path: Path) -> Sidecar | None:
    """The sidecar beside `path`, None if there is none; SidecarInvalid, saying what is
    wrong, if it cannot be used (the file is then refused, not versioned without it)."""
    sidecar = sidecar_of(path)
    try:
        raw = None if stat.S_ISLNK(os.lstat(sidecar).st_mode) else sidecar.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SidecarInvalid(f"{sidecar.name} cannot be read: {exc.strerror}") from exc
    if raw is None:
        raise SidecarInvalid(f"{sidecar.name} is a symlink; drop the file itself")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SidecarInvalid(f"{sidecar.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SidecarInvalid(f"{sidecar.name} must hold a JSON object like "
                             '{"note": "…", "user": "…", "task": "…"}')
    problems = []
    for key, value in data.items():
        limit = _SIDECAR_KEYS.get(key)
        if limit is None:
            problems.append(f"unknown key {key!r} (known: {', '.join(_SIDECAR_KEYS)})")
        elif not isinstance(value, str) or not value.strip() or len(value) > limit:
            problems.append(f"{key!r} must be text of 1 to {limit} characters")
    if problems:
        raise SidecarInvalid(f"{sidecar.name}: " + "; ".join(problems))
    return Sidecar(**{k: v.strip() for k, v in data.items()})
