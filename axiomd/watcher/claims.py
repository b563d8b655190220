"""Claiming a dropped file: rename it into this process's own folder in the drop root.

`<root>/.axiomd/claims/<host>.<pid>.<instance>/<random>.<name>`: the rename is atomic, so of
several watchers exactly one gets each file, and the file never leaves the artist's
filesystem. Before the rename, a journal line records where the file came from (its
path relative to the root, subfolders included), so if the process dies the file can go
back exactly there.

The journal is keyed by the claimed file's own name, not by the claim's random part:
the frames of a sequence share that part (and so one token), and each must go back to
its own name. Ingest threads claim into one folder at once, so every ClaimArea of a
folder writes through one journal object under one lock, and the journal is only ever
shortened by rewriting it without the lines of files no longer in the folder (compacted
into a temporary file, fsynced, renamed over the journal): a line is never dropped while
its file may still be claimed, however many frames a sequence has.

Durability: each line is written to the OS before its rename, so a killed process
(kill -9, OOM) loses none. A machine crash is not covered line by line (no fsync per
claim; a sequence claims a thousand files), but compaction never loses older lines.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from io import FileIO
from pathlib import Path, PurePosixPath

from axiomd.identity import random12
from axiomd.log import get_logger
from axiomd.watcher.drop import WORKDIR, reserved_dir

CLAIMS = "claims"
LEGACY_CLAIMS = "staging"  # what the claim area was called before; still recovered
JOURNAL = "claims.jsonl"
JOURNAL_MAX = 64 * 1024
MAX_NAME = 255

log = get_logger("watcher")


@dataclass(frozen=True)
class Claim:
    token: str
    staged: Path
    rel: Path


def _staged_name(random: str, name: str) -> str:
    """`<random>.<name>`; for a name too long for that, its end (frame number, extension)."""
    full = f"{random}.{name}".encode("utf-8", "surrogateescape")
    if len(full) <= MAX_NAME:
        return full.decode("utf-8", "surrogateescape")
    tail = name.encode("utf-8", "surrogateescape")[-(MAX_NAME - len(random) - 1):]
    return f"{random}.{tail.decode('utf-8', 'surrogateescape')}"


def _line(staged: str, random: str, rel: Path) -> bytes:
    entry = {"staged": staged, "claim": random, "rel": os.fsdecode(rel)}
    return (json.dumps(entry) + "\n").encode("ascii")


def _parse(line: bytes) -> tuple[str, str] | None:
    """(claimed file's name, where it came from), or None for a torn or foreign line.

    Lines written before claims were keyed by file, `[random, rel]`, are still read.
    """
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if isinstance(entry, dict):
        staged, rel = entry.get("staged"), entry.get("rel")
    elif isinstance(entry, list) and len(entry) == 2:
        random, rel = entry
        staged = _staged_name(random, PurePosixPath(rel).name) if isinstance(rel, str) else None
    else:
        return None
    if not isinstance(staged, str) or not isinstance(rel, str):
        return None
    return staged, rel


class _Journal:
    """The journal of one claim folder, shared by every ClaimArea of it in this process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / JOURNAL
        self.lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._file: FileIO | None = None
        self._compact_at = JOURNAL_MAX

    def record(self, staged: str, random: str, rel: Path) -> None:
        """Write where `staged` comes from, before it is renamed.

        OSError if it cannot (the claim folder's disk is full): then nothing is claimed.
        """
        line = _line(staged, random, rel)
        with self.lock:
            journal = self._open()
            if journal.tell() > self._compact_at:
                journal = self._compact(journal)
            try:
                if journal.write(line) != len(line):
                    raise OSError(errno.ENOSPC, "the claims journal took part of a line",
                                  str(self.path))
            except OSError:
                self._close()  # reopening ends a line this one may have left torn
                raise
            self._in_flight.add(staged)

    def reopen(self) -> None:
        """The claim folder was made again: the next line opens a journal in the new one."""
        with self.lock:
            self._close()

    def landed(self, staged: str) -> None:
        """The rename of `staged` is over (done or failed); compaction may judge its line."""
        with self.lock:
            self._in_flight.discard(staged)

    def _open(self) -> FileIO:
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Unbuffered: each line is one write(2), in the OS before the rename that follows.
            journal = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in _close
            if journal.tell() and not _ends_a_line(self.path):
                journal.write(b"\n")
            self._file = journal
        return self._file

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _compact(self, journal: FileIO) -> FileIO:
        """Rewrite the journal keeping every line whose file is, or is about to be, claimed."""
        temporary = self.folder / f"{JOURNAL}.tmp"
        present = set(os.listdir(self.folder)) | self._in_flight
        keep = [line + b"\n" for line in self.path.read_bytes().splitlines()
                if (entry := _parse(line)) is not None and entry[0] in present]
        try:
            with open(temporary, "wb") as out:
                out.writelines(keep)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        self._close()
        journal = self._open()
        self._compact_at = max(JOURNAL_MAX, 2 * journal.tell())
        return journal


def _ends_a_line(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


_journals: dict[Path, _Journal] = {}
_journals_lock = threading.Lock()


def _journal_of(folder: Path) -> _Journal:
    key = Path(os.path.abspath(folder))
    with _journals_lock:
        if key not in _journals:
            _journals[key] = _Journal(key)
        return _journals[key]


class ClaimArea:
    def __init__(self, root: Path, owner: str) -> None:
        self.owner = owner
        self.root = root
        self.folder = root / WORKDIR / CLAIMS / self.owner
        self._journal = _journal_of(self.folder)
        self._fd: int | None = None  # the claim folder, opened without following links
        self._lock = threading.Lock()

    def claim(self, path: Path, rel: Path, random: str | None = None) -> Claim | None:
        """Take `path`, or None if it is gone (another watcher, or the artist, moved it).

        Frames of one sequence share `random`, and so one token. Safe from many threads.
        If the claim folder itself was deleted (`.axiomd` removed, the root deleted and
        made again), it is made again rather than the file taken for claimed by another.
        """
        random = random or random12()
        name = _staged_name(random, path.name)
        for _ in range(2):
            folder = self._folder()
            self._journal.record(name, random, rel)
            try:
                os.rename(path, name, dst_dir_fd=folder)
            except FileNotFoundError:
                if not os.path.lexists(path):
                    return None
                self._reopen()
                continue
            finally:
                self._journal.landed(name)
            return Claim(f"{self.owner}.{random}", self.folder / name, rel)
        return None

    def _folder(self) -> int:
        """The claim folder's descriptor: made (never through a link) when missing."""
        with self._lock:
            if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
                self._reopen_locked()  # the folder was deleted under us
            if self._fd is None:
                with reserved_dir(self.root, [WORKDIR, CLAIMS, self.owner]) as fd:
                    self._fd = os.dup(fd)
            return self._fd

    def _reopen(self) -> None:
        with self._lock:
            self._reopen_locked()

    def _reopen_locked(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._journal.reopen()


def _origins(journal: Path) -> dict[str, str]:
    try:
        lines = journal.read_bytes().splitlines()
    except FileNotFoundError:
        return {}
    return dict(entry for line in lines if (entry := _parse(line)) is not None)


def _safe_rel(rel: str) -> Path | None:
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts:
        return None
    return Path(rel)


def leftover_claims(folder: Path, owner: str | None = None,
                    root: Path | None = None) -> Iterator[Claim]:
    """The files a dead process still held in `folder`, with where each came from.

    `owner` is the process that claimed them (the folder's name, unless the folder was
    adopted under another name); `root` the drop root. A file the journal does not place
    (it should not happen) goes to the root's top folder under its own name, and the log
    says so rather than guessing a subfolder.
    """
    origins = _origins(folder / JOURNAL)
    owner = owner or folder.name
    root = root or folder.parent.parent.parent
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(JOURNAL) or not entry.is_file():
            continue
        random, _, name = entry.name.partition(".")
        known = origins.get(entry.name)
        rel = _safe_rel(known) if known is not None else None
        if rel is None:
            rel = Path(name or entry.name)
            log.warning("ingest.recovered", file=str(root / rel), staged=str(entry),
                        action="returned_unknown_origin",
                        reason="the claims journal does not say where this file came from")
        yield Claim(f"{owner}.{random}", entry, rel)


def claimed_by_process(root: Path) -> dict[str, int]:
    """How many files each process holds claimed in `root` and not yet finished (files
    in folders it adopted count as its own): what `axiomd status` shows."""
    held: dict[str, int] = {}
    for folder in claim_folders(root):
        if folder.is_dir():
            count = sum(1 for p in folder.rglob("*") if p.is_file()
                        and not p.name.startswith(JOURNAL))
            if count:
                held[folder.name] = count
    return held


def claim_folders(root: Path) -> list[Path]:
    """Every process's claim folder in `root` (a planted link is never followed)."""
    found = []
    workdir = root / WORKDIR
    if workdir.is_symlink():
        return found
    for name in (CLAIMS, LEGACY_CLAIMS):
        area = workdir / name
        if area.is_symlink() or not area.is_dir():
            continue
        found += [f for f in area.iterdir() if not f.is_symlink() and f.is_dir()]
    return found
