"""Claiming a dropped file: rename it into this process's own folder in the drop root.

`<root>/.axiomd/staging/<host>.<pid>/<random>.<name>`: the rename is atomic, so of
several watchers exactly one gets each file, and the file never leaves the artist's
filesystem. Before the rename, a journal line records where the file came from, so if
the process dies the file can go back exactly there.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from axiomd.watcher.drop import WORKDIR

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
        self.folder = root / WORKDIR / STAGING / self.owner
        self._journal: TextIO | None = None

    def claim(self, path: Path, rel: Path, random: str | None = None) -> Claim | None:
        """Take `path`, or None if it is gone (another watcher, or the artist, moved it).

        Frames of one sequence share `random`, and so one token.
        """
        random = random or uuid.uuid4().hex[:12]
        staged = self.folder / _staged_name(random, path.name)
        self._record(random, rel)
        try:
            os.rename(path, staged)
        except FileNotFoundError:
            return None
        return Claim(f"{self.owner}.{random}", staged, rel)

    def _record(self, random: str, rel: Path) -> None:
        if self._journal is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.folder / JOURNAL, "a", encoding="utf-8")  # noqa: SIM115
        journal = self._journal
        # Claims are worked one at a time, so older lines are history: keep the file small.
        if journal.tell() > JOURNAL_MAX:
            journal.truncate(0)
            journal.seek(0)
        journal.write(json.dumps([random, os.fsdecode(rel)]) + "\n")
        journal.flush()


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
