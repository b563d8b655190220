"""Claiming a dropped file: rename it into this process's own folder in the drop root.

`<root>/.axiomd/staging/<host>.<pid>/<random>.<name>`: the rename is atomic, so of
several watchers exactly one gets each file, and the file never leaves the artist's
filesystem. Before the rename, a journal line records where the file came from, so if
the process dies the file can go back exactly there.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from axiomd.watcher.drop import WORKDIR, reserved_dir

STAGING = "staging"
JOURNAL = "claims.jsonl"
JOURNAL_MAX = 64 * 1024
MAX_NAME = 255


@dataclass(frozen=True)
class Claim:
    token: str
    staged: Path
    rel: Path


def _staged_name(random: str, name: str) -> str:
    full = f"{random}.{name}"
    return full if len(full.encode("utf-8", "surrogateescape")) <= MAX_NAME else random


class ClaimArea:
    def __init__(self, root: Path, host: str, pid: int | None = None) -> None:
        self.owner = f"{host}.{pid or os.getpid()}"
        self.root = root
        self.folder = root / WORKDIR / STAGING / self.owner
        self._journal: TextIO | None = None
        self._fd: int | None = None  # the claim folder, opened without following links
        self._lock = threading.Lock()  # ingest threads share the folder and its journal

    def claim(self, path: Path, rel: Path, random: str | None = None) -> Claim | None:
        """Take `path`, or None if it is gone (another watcher, or the artist, moved it).

        Frames of one sequence share `random`, and so one token. If the claim folder
        itself was deleted (`.axiomd` removed, the root deleted and made again), it is
        made again rather than the file being taken for claimed by someone else.
        """
        random = random or uuid.uuid4().hex[:12]
        name = _staged_name(random, path.name)
        with self._lock:
            for _ in range(2):
                folder = self._record(random, rel)
                try:
                    os.rename(path, name, dst_dir_fd=folder)
                except FileNotFoundError:
                    if not os.path.lexists(path):
                        return None
                    self._reopen()
                    continue
                return Claim(f"{self.owner}.{random}", self.folder / name, rel)
        return None

    def _reopen(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(OSError):
                self._journal.close()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._journal, self._fd = None, None

    def _record(self, random: str, rel: Path) -> int:
        if self._journal is not None and self._fd is not None and os.fstat(self._fd).st_nlink == 0:
            self._reopen()  # the folder was deleted under us
        if self._journal is None:
            with reserved_dir(self.root, [WORKDIR, STAGING, self.owner]) as fd:
                self._fd = os.dup(fd)
            folder = self._fd
            self._journal = open(JOURNAL, "a", encoding="utf-8",  # noqa: SIM115
                                 opener=lambda name, flags: _open_journal(name, flags, folder))
        journal = self._journal
        # Claims are worked one at a time, so older lines are history: keep the file small.
        if journal.tell() > JOURNAL_MAX:
            journal.truncate(0)
            journal.seek(0)
        journal.write(json.dumps([random, os.fsdecode(rel)]) + "\n")
        journal.flush()
        assert self._fd is not None
        return self._fd


def _open_journal(name: str, flags: int, folder: int) -> int:
    return os.open(name, flags | os.O_NOFOLLOW, 0o666, dir_fd=folder)


def leftover_claims(folder: Path) -> Iterator[Claim]:
    """The files a dead process still held in `folder`, with where each came from."""
    origins: dict[str, str] = {}
    journal = folder / JOURNAL
    if journal.exists():
        for line in journal.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            try:
                random, rel = json.loads(line)
            except ValueError:
                continue
            origins[random] = rel
    for entry in folder.iterdir():
        if entry.name == JOURNAL or not entry.is_file():
            continue
        random, _, name = entry.name.partition(".")
        rel = Path(origins.get(random) or name or entry.name)
        yield Claim(f"{folder.name}.{random}", entry, rel)
