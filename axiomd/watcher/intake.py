"""One path for every settled item: claim → ingest → finish, or set aside with a note.

Claiming renames the file into this process's claim folder (`claims.py`), so of several
watchers exactly one works each file. Then the `Ingestor` stages, versions and publishes
it; only after that is the claimed file removed, or moved to `_rejected/` or
`_duplicates/` for the artist. If the store refuses the publish after the commit, the
claim is *held* and publishing is retried before anything new is taken (the version's
jobs wait for it).

Files go in by group commit: a round takes the next item of every asset; its files are
claimed and staged in parallel, numbered in chunks, one transaction each, and each chunk
is published and finished while the next is numbered. Long on purpose: single files
and sequences share the claim, hold, put-back, wait and set-aside steps, and the round
that ties them together reads best beside them.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from axiomd.catalog.versions import Refusal, VersionInfo
from axiomd.config import DropRoot
from axiomd.daemon import Backoff
from axiomd.errors import CatalogUnavailable, SidecarInvalid, StoreError
from axiomd.identity import process_name, random12
from axiomd.ingest import Ingestor, Outcome, Ready, UnpublishedVersion
from axiomd.log import get_logger
from axiomd.naming import NamingRule
from axiomd.sequences import frame_of
from axiomd.store import StoreFull
from axiomd.watcher.batching import FileItem, Item, SequenceItem, path_of
from axiomd.watcher.claims import Claim, ClaimArea
from axiomd.watcher.drop import (
    DUPLICATES,
    REJECTED,
    Receipt,
    RootUnwritable,
    Sidecar,
    duplicate_note,
    free_name,
    read_sidecar,
    receipt,
    rejection_note,
    set_aside,
    set_aside_note,
    sidecar_of,
    write_receipts,
)
from axiomd.watcher.settle import Snapshot
from axiomd.watcher.sources import snapshot_of

log = get_logger("watcher")

# What makes a file wait rather than fail: the catalog or the store is away for now.
DEFERRING = (CatalogUnavailable, DBAPIError, StoreError, OSError)
# What makes only this file wait (with its own backoff) while every other file flows:
# it does not fit in the store's free space, or its drop root refuses our writes.
ONE_FILE = (StoreFull, RootUnwritable)
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
# Files committed in one transaction: enough to share the commit's cost, few enough that
# every file of a chunk goes in well within 100 ms of settling (32 put p99 at 115-145 ms
# on this VM's disk, 16 at 40-70 ms, for about the same throughput).
BATCH = 16
# Files below this are staged one after another on one thread (the lane), which also
# publishes and finishes every chunk: that work is system calls and the GIL, which more
# threads only fight over (a 10,000-file burst went in at 1,040 files/s on one thread,
# 600 on four). Bigger files and sequences are staged in the pool, each on a thread of
# its own, since reading and hashing them lets the others run.
SMALL = 1 << 20


@dataclass
class Worked:
    """What a round of intake left: items to try again, files that changed since they
    settled (to settle again), and the error that stopped the round, if one did."""

    again: list[Item] = field(default_factory=list)
    changed: list[tuple[Path, Snapshot]] = field(default_factory=list)
    deferred_by: BaseException | None = None
    processed: int = 0


class Next(Enum):
    """What an asset's later items do after one of its items was worked."""

    GO_ON = "go on"
    AGAIN = "this item and the later ones wait for the next round"
    STOP = "the later ones wait (this one is held)"


@dataclass(frozen=True)
class Staged:
    """A file claimed and staged in the store, waiting for the chunk's commit."""

    root: DropRoot
    path: Path
    claim: Claim
    ready: Ready


@dataclass(frozen=True)
class Early:
    """A file whose number came early: since when, and when it is tried next (not at
    every settle, since each try claims and hashes it: after 1, 2, 4, 8 s, and once its
    gap wait is over)."""

    since: float
    retry_at: float
    delay: float


@dataclass(frozen=True)
class Done:
    """An item worked to the end; `changed` holds files to settle again."""

    path: Path
    changed: list[tuple[Path, Snapshot]]


@dataclass(frozen=True)
class Failed:
    path: Path
    error: BaseException


Taken = Staged | Done | Failed | Next


def _small(item: Item) -> bool:
    return isinstance(item, FileItem) and item.snapshot.size < SMALL


def _results(tasks: Sequence[Future[list[Taken]]]) -> list[Taken]:
    """A chunk's staging, item by item, once every task of it is done."""
    return [t for task in tasks for t in task.result()]


def _write_receipts(receipts: Sequence[Receipt]) -> None:
    """A receipt that cannot be written is no loss: it is logged."""
    for path, exc in write_receipts(receipts):
        log.warning("ingest.receipt_failed", file=str(path), error=str(exc))


def put_back(staged: Path, original: Path) -> None:
    """A claimed file goes back where the artist put it (under a free name if taken)."""
    if staged.exists():
        original.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, free_name(original))


class Intake:
    def __init__(self, ingestor: Ingestor, rule_for: Callable[[DropRoot], NamingRule],
                 threads: int, gap_wait: Callable[[], float],
                 receipt_days: Callable[[], float] = lambda: 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ingestor = ingestor
        self.rule_for = rule_for
        self.gap_wait, self.receipt_days, self.clock = gap_wait, receipt_days, clock
        # Files (or sequences) whose number came early: a lower number may still be on its
        # way, through this watcher or another one.
        self._early: dict[Path, Early] = {}
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="ingest")
        self.lane = ThreadPoolExecutor(1, thread_name_prefix="ingest-lane")
        self._areas: dict[str, ClaimArea] = {}
        self._areas_lock = threading.Lock()
        # Committed versions the store refused to take, with their claims and origin.
        self.held: list[tuple[UnpublishedVersion, list[Claim], Path]] = []
        self._held_lock = threading.Lock()
        # Files waiting alone (ONE_FILE): when each may be tried again, and its backoff.
        self.waiting: dict[Path, tuple[float, Backoff]] = {}
        self._waiting_lock = threading.Lock()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.lane.shutdown(wait=True)

    def claims(self, root: DropRoot) -> ClaimArea:
        with self._areas_lock:
            if root.name not in self._areas:
                self._areas[root.name] = ClaimArea(root.path, process_name())
            return self._areas[root.name]

    def work(self, groups: Sequence[list[Item]], root_of: Callable[[Path], DropRoot | None],
             stop: threading.Event) -> Worked:
        """Work round by round: each round takes the next item of every asset, so one
        asset's items go in in order. On an outage the rest waits for later."""
        result = Worked()
        queues = [deque(group) for group in groups if group]
        while queues and not stop.is_set() and result.deferred_by is None:
            heads = sorted(((queue, queue.popleft()) for queue in queues),
                           key=lambda head: not _small(head[1]))
            nexts = self._work_round([item for _, item in heads], root_of, stop, result)
            for (queue, item), then in zip(heads, nexts, strict=True):
                if then is Next.AGAIN:
                    queue.appendleft(item)
                if then is not Next.GO_ON:  # the asset's later items wait behind it
                    result.again.extend(queue)
                    queue.clear()
            queues = [queue for queue in queues if queue]
        for queue in queues:
            result.again.extend(queue)
        return result

    def _work_round(self, items: Sequence[Item], root_of: Callable[[Path], DropRoot | None],
                    stop: threading.Event, result: Worked) -> list[Next]:
        """A round's items, committed together in chunks of `BATCH` (group commit) as a
        pipeline: while this thread waits on the catalog to number one chunk, the next is
        claimed and staged and the one before published and finished, so the file
        system's work and the database's overlap. After an outage or a stop, the
        chunks not numbered wait for the next round, their staged files put back."""
        chunks = [items[i:i + BATCH] for i in range(0, len(items), BATCH)]
        ends: list[Future[list[Taken]] | list[Taken]] = []
        staging = self._stage(chunks[0], root_of) if chunks else None
        following = 1
        while staging is not None:
            taken = _results(staging)
            for t in taken:
                if isinstance(t, Failed):
                    self._defer(result, t.path, t.error)
            going = following < len(chunks) and not stop.is_set() and result.deferred_by is None
            staging = self._stage(chunks[following], root_of) if going else None
            following += 1
            staged = [t for t in taken if isinstance(t, Staged)]
            try:
                numbered = self.ingestor.number([t.ready for t in staged])
            except DEFERRING as exc:
                self._defer(result, staged[0].path, exc)
                ends.append(self._undo(taken))
                if staging is not None:
                    ends.append(self._undo(_results(staging)))
                break
            ends.append(self.lane.submit(self._finish_chunk, taken, numbered))
        nexts = [self._tally(t, result)
                 for end in ends for t in (end.result() if isinstance(end, Future) else end)]
        return nexts + [Next.AGAIN] * (len(items) - len(nexts))

    def _stage(self, chunk: Sequence[Item],
               root_of: Callable[[Path], DropRoot | None]) -> list[Future[list[Taken]]]:
        """Claim and stage a chunk (small files first): the small files on the lane, each
        bigger one on a thread of the pool."""
        small = [item for item in chunk if _small(item)]
        tasks = [self.lane.submit(self._take_all, small, root_of)] if small else []
        return tasks + [self.pool.submit(self._take_all, [item], root_of)
                        for item in chunk[len(small):]]

    def _take_all(self, items: Sequence[Item],
                  root_of: Callable[[Path], DropRoot | None]) -> list[Taken]:
        return [self._take(item, root_of) for item in items]

    def _finish_chunk(self, taken: Sequence[Taken],
                      numbered: Sequence[VersionInfo | Refusal]) -> list[Taken]:
        """Publish a numbered chunk into the store, then finish each of its files."""
        staged = [t for t in taken if isinstance(t, Staged)]
        outcomes = iter(self.ingestor.publish([t.ready for t in staged], numbered))
        receipts: list[Receipt] = []
        finished = [self._finish(t, next(outcomes), receipts) if isinstance(t, Staged) else t
                    for t in taken]
        _write_receipts(receipts)
        return finished

    def _undo(self, taken: Sequence[Taken]) -> list[Taken]:
        """Staged files that will not be numbered now go back to the drop folder."""
        staged = [t for t in taken if isinstance(t, Staged)]
        self.ingestor.abandon([t.ready for t in staged])
        for t in staged:
            put_back(t.claim.staged, t.path)
        return [Next.AGAIN if isinstance(t, Staged) else t for t in taken]

    def _take(self, item: Item, root_of: Callable[[Path], DropRoot | None]) -> Taken:
        path = path_of(item)
        root = root_of(path)
        if root is None:
            return Done(path, [])
        early = self._early.get(path)
        if self._waits_alone(path) or (early is not None and early.retry_at > self.clock()):
            return Next.AGAIN
        try:
            if isinstance(item, SequenceItem):
                return Done(path, self.take_sequence(root, item.pattern, item.frames))
            return self._stage_file(root, item.path, item.snapshot)
        except ONE_FILE as exc:
            self._wait_alone(root, path, exc)
            return Next.AGAIN
        except DEFERRING as exc:
            return Failed(path, exc)

    def _finish(self, staged: Staged, outcome: Outcome | UnpublishedVersion,
                receipts: list[Receipt]) -> Taken:
        try:
            return self._finish_file(staged.root, staged.path, staged.claim, outcome, receipts)
        except ONE_FILE as exc:
            self._wait_alone(staged.root, staged.path, exc)
            return Next.AGAIN
        except DEFERRING as exc:
            return Failed(staged.path, exc)

    def _tally(self, taken: Taken, result: Worked) -> Next:
        """Count what became of one item; what its asset's later items do next."""
        if isinstance(taken, Next):
            return taken
        if isinstance(taken, Failed):
            self._defer(result, taken.path, taken.error)
            # A held version waits in `held`; the rest of its asset waits, settled.
            return Next.STOP if isinstance(taken.error, UnpublishedVersion) else Next.AGAIN
        assert isinstance(taken, Done)
        with self._waiting_lock:
            self.waiting.pop(taken.path, None)
        result.changed.extend(taken.changed)
        if not taken.changed:
            result.processed += 1
        return Next.GO_ON

    @staticmethod
    def _defer(result: Worked, path: Path, exc: BaseException) -> None:
        if result.deferred_by is None:
            result.deferred_by = exc
            log.error("ingest.deferred", file=str(path), error=str(exc))

    # -- files that wait alone ------------------------------------------------------------

    def _waits_alone(self, path: Path) -> bool:
        with self._waiting_lock:
            waiting = self.waiting.get(path)
        return waiting is not None and time.monotonic() < waiting[0]

    def _wait_alone(self, root: DropRoot, path: Path, exc: BaseException) -> None:
        with self._waiting_lock:
            backoff = self.waiting.get(path, (0.0, Backoff(first=1.0, cap=60.0)))[1]
            delay = backoff.next()
            self.waiting[path] = (time.monotonic() + delay, backoff)
        if isinstance(exc, RootUnwritable):
            log.error("watch.root_unwritable", root=root.name, path=str(root.path),
                      file=str(path), error=str(exc), retry_in=round(delay, 1))
        else:
            log.warning("ingest.waiting_for_space", file=str(path), error=str(exc),
                        retry_in=round(delay, 1))

    def _claim(self, root: DropRoot, path: Path, rel: Path,
               random: str | None = None) -> Claim | None:
        try:
            return self.claims(root).claim(path, rel, random=random)
        except OSError as exc:
            if exc.errno in UNWRITABLE:
                raise RootUnwritable(root.name, root.path, exc) from exc
            raise

    # -- one item --------------------------------------------------------------------------

    def publish_held(self) -> StoreError | None:
        """Publish what the store refused before; the store's error while it still refuses."""
        while self.held:
            held, claims, origin = self.held[0]
            try:
                self.ingestor.finish_publishing(held, origin)
            except StoreError as exc:
                log.error("ingest.deferred", file=str(origin), error=str(exc))
                return exc
            for claim in claims:
                claim.staged.unlink(missing_ok=True)
            with self._held_lock:
                self.held.pop(0)
        return None

    def _hold(self, held: UnpublishedVersion, claims: list[Claim], origin: Path) -> None:
        with self._held_lock:
            self.held.append((held, claims, origin))

    def _stage_file(self, root: DropRoot, path: Path, snapshot: Snapshot) -> Staged | Done:
        """Claim a settled file and stage it for its number; Done if it goes no further
        (changed since it settled, refused before any number, or claimed by another)."""
        rel = path.relative_to(root.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Done(path, [])
        if Snapshot.of(st) != snapshot:
            return Done(path, [(path, Snapshot.of(st))])
        log.info("ingest.settled", file=str(path), size=st.st_size)
        if stat.S_ISLNK(st.st_mode):
            log.warning("ingest.symlink_ignored", file=str(path), target=os.readlink(path),
                        reason="symlinks are never followed; drop the file itself")
            return Done(path, [])
        rule = self.rule_for(root)
        refusal, context = None, None
        if not stat.S_ISREG(st.st_mode):
            refusal = "is not a regular file (a pipe, socket or device); only files are ingested"
        elif st.st_size == 0:
            refusal = ("is empty (0 bytes), and stayed empty: a copy that never finished? "
                       "Drop the complete file again")
        else:
            try:
                context = read_sidecar(path)
            except SidecarInvalid as exc:
                refusal = f"its publish sidecar is unusable: {exc}"
        if refusal is not None:
            self._set_aside(root, rel, path, REJECTED,
                            rejection_note(path.name, refusal, rule.example, rule.template))
            self._sidecar_along(root, rel, REJECTED)
            log.info("ingest.rejected", file=str(path), reason=refusal)
            return Done(path, [])
        claim = self._claim(root, path, rel)
        if claim is None:
            return Done(path, [])  # another watcher claimed it first
        context = context or Sidecar()
        try:
            ready = self.ingestor.prepare(claim.staged, rule, link=True, token=claim.token,
                                          origin=path, expected_size=snapshot.size,
                                          name=path.name, allow_gap=self._waited(path),
                                          note=context.note, user=context.user,
                                          task=context.task)
        except BaseException:
            put_back(claim.staged, path)
            raise
        if isinstance(ready, Ready):
            return Staged(root, path, claim, ready)
        return self._finish_file(root, path, claim, ready)

    def _finish_file(self, root: DropRoot, path: Path, claim: Claim,
                     outcome: Outcome | UnpublishedVersion,
                     receipts: list[Receipt] | None = None) -> Done:
        """After the commit: remove the claimed file, or put it back, or set it aside.
        An accepted file's receipt goes into `receipts` if given (the chunk writes them
        together), else is written now."""
        rel = path.relative_to(root.path)
        if isinstance(outcome, UnpublishedVersion):
            self._hold(outcome, [claim], path)
            raise outcome
        self._note_early(path, outcome.status == "early")
        if outcome.status in ("changed", "early"):
            put_back(claim.staged, path)
            now = snapshot_of(path)
            return Done(path, [(path, now)] if now else [])
        if outcome.status == "accepted":
            claim.staged.unlink()
            sidecar_of(path).unlink(missing_ok=True)
            self._receipt(root, rel, outcome, receipts)
        elif outcome.status == "duplicate":
            self._set_aside(root, rel, claim.staged, DUPLICATES,
                            duplicate_note(path.name, outcome.reason))
            self._sidecar_along(root, rel, DUPLICATES)
        else:
            rule = self.rule_for(root)
            self._set_aside(root, rel, claim.staged, REJECTED,
                            rejection_note(path.name, outcome.reason,
                                           outcome.suggestion or rule.example, rule.template))
            self._sidecar_along(root, rel, REJECTED)
        return Done(path, [])

    def _sidecar_along(self, root: DropRoot, rel: Path, folder: str) -> None:
        """A set-aside file's sidecar goes with it, so dropping both again just works."""
        sidecar = sidecar_of(root.path / rel)
        if sidecar.exists() and not sidecar.is_symlink():
            set_aside(root.path, sidecar.relative_to(root.path), sidecar, folder, note=None)

    def _receipt(self, root: DropRoot, rel: Path, outcome: Outcome,
                 into: list[Receipt] | None = None) -> None:
        """`_accepted/NAME.txt` for the artist, now or `into` a chunk's receipts."""
        version = outcome.version
        if version is None or self.receipt_days() <= 0:
            return
        text = receipt(rel.name, version.asset, version.label,
                       self.ingestor.store.path(version.store_path), datetime.now(UTC))
        made = Receipt(root.path, rel, text)
        if into is None:
            _write_receipts([made])
        else:
            into.append(made)

    def _waited(self, path: Path) -> bool:
        """Has `path`, early before, waited long enough for the lower numbers to come?"""
        early = self._early.get(path)
        return early is not None and self.clock() - early.since >= self.gap_wait()

    def _note_early(self, path: Path, early: bool) -> None:
        if not early:
            self._early.pop(path, None)
            return
        now = self.clock()
        before = self._early.get(path, Early(since=now, retry_at=now, delay=0.5))
        delay = min(2 * before.delay, 8.0)
        gap_over = before.since + self.gap_wait()
        retry_at = min(now + delay, gap_over) if now < gap_over else now
        self._early[path] = Early(before.since, retry_at, delay)

    def take_sequence(self, root: DropRoot, pattern: Path,
                      frames: Mapping[Path, Snapshot]) -> list[tuple[Path, Snapshot]]:
        """Claim every frame of a settled sequence and ingest them as one version.

        If any frame changed or vanished since it settled, nothing is claimed and every
        frame goes back to settle again.
        """
        current = {path: snapshot_of(path) for path in frames}
        if any(current[p] != s for p, s in frames.items()):
            return [(p, s) for p, s in current.items() if s is not None]
        log.info("ingest.settled", file=str(pattern), frames=len(frames))
        shared = random12()
        claimed = [self._claim(root, p, p.relative_to(root.path), shared) for p in sorted(frames)]
        claims = [c for c in claimed if c is not None]
        if len(claims) < len(claimed):
            # A frame vanished after it settled (or another watcher took it): never record
            # the sequence short. Put back what was taken; what is there settles again.
            for claim in claims:
                put_back(claim.staged, root.path / claim.rel)
            return [(p, s) for p in frames if (s := snapshot_of(p)) is not None]
        rule = self.rule_for(root)
        try:
            outcome = self.ingestor.ingest_sequence(
                [(c.staged, frame_of(c.rel.name)) for c in claims], rule, link=True,
                token=claims[0].token, origin=pattern, allow_gap=self._waited(pattern))
        except UnpublishedVersion as exc:
            self._hold(exc, claims, pattern)
            raise
        except BaseException:
            for claim in claims:
                put_back(claim.staged, root.path / claim.rel)
            raise
        self._note_early(pattern, outcome.status == "early")
        if outcome.status == "accepted":
            for claim in claims:
                claim.staged.unlink()
            self._receipt(root, pattern.relative_to(root.path), outcome)
            return []
        if outcome.status in ("early", "changed"):  # all frames settle again
            for claim in claims:
                put_back(claim.staged, root.path / claim.rel)
            return [(p, s) for p in sorted(frames) if (s := snapshot_of(p)) is not None]
        folder = DUPLICATES if outcome.status == "duplicate" else REJECTED
        for claim in claims:
            set_aside(root.path, claim.rel, claim.staged, folder, note=None)
        note = (duplicate_note(pattern.name, outcome.reason) if folder == DUPLICATES
                else rejection_note(pattern.name, outcome.reason,
                                    outcome.suggestion or rule.example, rule.template))
        set_aside_note(root.path, pattern.relative_to(root.path), folder, note)
        log.info("ingest.set_aside", file=str(pattern), moved_to=str(root.path / folder),
                 frames=len(claims))
        return []

    @staticmethod
    def _set_aside(root: DropRoot, rel: Path, current: Path, folder: str, note: str) -> None:
        try:
            target = set_aside(root.path, rel, current, folder, note)
        except OSError as exc:
            if exc.errno in UNWRITABLE:
                raise RootUnwritable(root.name, root.path, exc) from exc
            raise
        log.info("ingest.set_aside", file=str(root.path / rel), moved_to=str(target))

