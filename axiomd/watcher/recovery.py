"""Finishing what dead watchers left: at start, and whenever a watcher host falls silent.

A watcher's claims live in its own claim folder, named for its process
(`identity.process_name()`). A folder whose process is gone is *adopted*: renamed, in one
atomic step, into the adopting watcher's own folder (so of two adopters exactly one gets
it, and if the adopter dies too, the next one adopts it with its own). Then each claimed
file whose token has a committed version is finished (published, then removed); one
without a version goes back where the artist put it and is ingested as if new. A token
belongs to one file (or one image sequence), so this never makes a second version.

Gone means: a process of this host that no longer runs (or an earlier instance with
this process's pid); a process of another host whose heartbeat has been silent for
`[watch] adopt_after_seconds`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Iterable
from datetime import timedelta
from pathlib import Path

from axiomd.catalog import heartbeats
from axiomd.catalog.models import utcnow
from axiomd.config import DropRoot
from axiomd.identity import host, is_me, left_by_dead_process, owner_of, process_name
from axiomd.ingest import Ingestor
from axiomd.log import get_logger
from axiomd.watcher.claims import CLAIMS, claim_folders, leftover_claims
from axiomd.watcher.drop import WORKDIR
from axiomd.watcher.intake import put_back

log = get_logger("watcher")

ADOPTED = "adopted-"


def live_processes(ingestor: Ingestor, silent_after: float) -> set[str]:
    """Processes (`host.pid.instance`) whose heartbeat is younger than `silent_after`."""
    since = utcnow() - timedelta(seconds=silent_after)
    return {beat.process.partition("@")[2] for beat in heartbeats.recent(ingestor.engine, since)}


def is_gone(folder_name: str, live: Collection[str]) -> bool:
    owner = owner_of(folder_name)
    if owner is None or is_me(owner):
        return False
    if owner.host == host():
        return left_by_dead_process(owner)
    return folder_name not in live


def recover(ingestor: Ingestor, roots: Iterable[DropRoot], live: Collection[str]) -> None:
    """Adopt and finish every claim folder in `roots` whose process is gone."""
    ingestor.recover_staged()
    for root in roots:
        for folder in claim_folders(root.path):
            if is_gone(folder.name, live):
                _adopt(ingestor, root, folder)


def _adopt(ingestor: Ingestor, root: DropRoot, folder: Path) -> None:
    mine = root.path / WORKDIR / CLAIMS / process_name()
    mine.mkdir(parents=True, exist_ok=True)
    adopted = mine / f"{ADOPTED}{folder.name}"
    try:
        os.rename(folder, adopted)
    except OSError:
        return  # another watcher adopted it first
    log.info("watch.adopted", root=root.name, process=folder.name, by=process_name())
    _finish(ingestor, root, adopted, folder.name)


def _finish(ingestor: Ingestor, root: DropRoot, folder: Path, owner: str) -> None:
    """Finish every claim in an adopted folder, and in the folders it had adopted."""
    ingestor.recover_staged(adopted={owner})
    for claim in leftover_claims(folder, owner=owner, root=root.path):
        original = root.path / claim.rel
        version = ingestor.finish_claimed(claim.staged, claim.token)
        if version is None:
            put_back(claim.staged, original)
            log.info("ingest.recovered", file=str(original), action="returned")
            continue
        claim.staged.unlink()
        log.info("ingest.recovered", file=str(original), asset=version.asset,
                 version=version.label, version_id=version.id, action="finished")
    for inner in folder.iterdir():
        if inner.is_dir() and inner.name.startswith(ADOPTED):
            _finish(ingestor, root, inner, inner.name.removeprefix(ADOPTED))
    shutil.rmtree(folder, ignore_errors=True)
