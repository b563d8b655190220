"""At start, before anything new: finish or undo what dead watchers of this host left.

A claimed file whose token has a committed version is finished (published, then
removed from the claim folder); one without a version goes back where the artist put
it and is ingested as if new. A token belongs to one file (or one image sequence), so
this never makes a second version.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable

from axiomd.config import DropRoot
from axiomd.identity import left_by_dead_process, owner_of
from axiomd.ingest import Ingestor
from axiomd.log import get_logger
from axiomd.watcher.claims import STAGING, Claim, leftover_claims
from axiomd.watcher.drop import WORKDIR
from axiomd.watcher.intake import put_back

log = get_logger("watcher")


def recover(ingestor: Ingestor, roots: Iterable[DropRoot]) -> None:
    ingestor.recover_staged()
    for root in roots:
        claim_folders = root.path / WORKDIR / STAGING
        if not claim_folders.is_dir():
            continue
        for folder in claim_folders.iterdir():
            if not left_by_dead_process(owner_of(folder.name)):
                continue
            for claim in leftover_claims(folder):
                _recover_claim(ingestor, root, claim)
            shutil.rmtree(folder, ignore_errors=True)


def _recover_claim(ingestor: Ingestor, root: DropRoot, claim: Claim) -> None:
    original = root.path / claim.rel
    version = ingestor.finish_claimed(claim.staged, claim.token)
    if version is None:
        put_back(claim.staged, original)
        log.info("ingest.recovered", file=str(original), action="returned")
        return
    claim.staged.unlink()
    log.info("ingest.recovered", file=str(original), asset=version.asset,
             version=version.label, version_id=version.id, action="finished")
