"""`axiomd watch`: drop folders in, versions out.

How one file travels, and why a kill -9 at any point loses nothing:

1. Events (inotify, or polling for shares) and periodic scans feed a `SettleTracker`.
2. A settled file is *claimed* by renaming it into this process's own folder,
   `<root>/.axiomd/staging/<host>.<pid>/` (see `claims.py`). Rename is atomic, so of
   several watchers on one root exactly one wins.
3. The `Ingestor` stages it in the store (hard link, or fsynced copy), allocates the
   version in one transaction recording the claim's token, and publishes it.
4. Only then is the claimed file removed (or moved to `_rejected/` or `_duplicates/`
   with a note for the artist).

If the store refuses the publish in step 3 after the commit (it filled up or turned
read-only), the file stays claimed and staged in `held`, and publishing is retried each
tick before anything new is taken; the version's jobs wait for it (see `JobRunner`).

At start, before anything else, `recover` finishes what a dead watcher of this host left:
a claimed file whose token has a committed version is finished (published, then removed);
one without a version goes back where the artist put it and is ingested as if new. A
token belongs to one file (or one image sequence), so this never makes a second version.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from axiomd.catalog.versions import find_by_token
from axiomd.config import Config, DropRoot
from axiomd.daemon import Pulse, Shutdown, reload_config, sd_notify
from axiomd.errors import CatalogUnavailable, StoreError
from axiomd.identity import left_by_dead_process, owner_of
from axiomd.ingest import Ingestor, UnpublishedVersion, jobs_for
from axiomd.log import get_logger
from axiomd.naming import ParsedName
from axiomd.sequences import frame_of, is_sequence, sequence_name, store_pattern
from axiomd.watcher.claims import STAGING, Claim, ClaimArea, leftover_claims
from axiomd.watcher.drop import (
    DUPLICATES,
    REJECTED,
    RESERVED,
    WORKDIR,
    duplicate_note,
    free_name,
    is_ignored,
    rejection_note,
    set_aside,
    set_aside_note,
)
from axiomd.watcher.settle import SettleTracker, Snapshot

log = get_logger("watcher")

ROOT_CHECK_SECONDS = 2.0
SEQUENCE = Snapshot(-1, -1)  # marks a queued item that is a whole image sequence


def snapshot_of(path: Path) -> Snapshot | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return Snapshot(st.st_size, st.st_mtime_ns)


class _Events(FileSystemEventHandler):
    """Turns watchdog events into paths to look at; the main loop does the looking."""

    def __init__(self, inbox: queue.SimpleQueue[Path]) -> None:
        self.inbox = inbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        path = event.dest_path if event.event_type == "moved" else event.src_path
        self.inbox.put(Path(os.fsdecode(path)))


class _OverflowAlarm(logging.Handler):
    """watchdog reports a kernel event-queue overflow only as a log line: rescan on it."""

    def __init__(self, flag: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.flag = flag

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.flag.set()


def inotify_watches() -> int | None:
    """How many inotify watches this process holds (None where /proc cannot tell)."""
    total = 0
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                total += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


class Watcher:
    def __init__(self, config: Config, ingestor: Ingestor, shutdown: Shutdown) -> None:
        self.config = config
        self.ingestor = ingestor
        self.shutdown = shutdown
        self.tracker = SettleTracker(config.watch.settle_seconds)
        self.inbox: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self.rescan_now = threading.Event()
        self.observers: dict[bool, BaseObserver] = {}
        self.watches: dict[str, ObservedWatch] = {}
        self.native_folders: dict[str, int] = {}  # root -> folders inotify should be watching
        self.polled: set[str] = {r.name for r in config.watch.roots if r.poll}
        self.missing: set[str] = set()
        self.pause_until = 0.0
        self.backoff = 0.5
        self.processed = 0
        self.claim_areas: dict[str, ClaimArea] = {}
        self.sequences: dict[Path, dict[Path, Snapshot]] = {}
        self.sequence_seen: dict[Path, float] = {}
        self.claimable: dict[Path, dict[Path, Snapshot]] = {}
        # Committed versions the store refused to take (it filled up or turned read-only
        # between staging and publishing), with their claimed files and where they came from.
        self.held: list[tuple[UnpublishedVersion, list[Claim], Path]] = []
        self.held_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(config.watch.ingest_threads, thread_name_prefix="ingest")

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        pulse = Pulse(self.ingestor.engine, "watcher").start()
        alarm = _OverflowAlarm(self.rescan_now)
        logging.getLogger("watchdog").addHandler(alarm)
        try:
            self.recover()
            for root in self.config.watch.roots:
                self._schedule(root)
            sd_notify("READY=1")
            log.info("watch.started", roots=[str(r.path) for r in self.config.watch.roots])
            self.rescan()
            last_rescan = last_root_check = time.monotonic()
            while not self.shutdown.stop_taking.is_set():
                if self.shutdown.reload.is_set():
                    self.shutdown.reload.clear()
                    self.reload()
                self._drain_inbox()
                now = time.monotonic()
                if self.rescan_now.is_set() or now - last_rescan >= self.config.watch.rescan_seconds:
                    self.rescan_now.clear()
                    self.rescan()
                    last_rescan = last_root_check = now
                elif now - last_root_check >= ROOT_CHECK_SECONDS:
                    # A share that comes back is scanned at once, not at the next rescan.
                    back = self._check_roots()
                    for root in back:
                        self._scan_dir(root, root.path)
                    last_root_check = now
                if now >= self.pause_until:
                    self._ingest_due()
                self._wait()
        finally:
            for observer in self.observers.values():
                observer.stop()
            for observer in self.observers.values():
                observer.join(timeout=5)
            self.pool.shutdown(wait=True)
            logging.getLogger("watchdog").removeHandler(alarm)
            pulse.forget()
            log.info("watch.stopped", processed=self.processed)

    def reload(self) -> None:
        """Naming rules, ignore globs, settle time and presets change live; roots need a restart."""
        new = reload_config(self.config, "watcher")
        if new is None:
            return
        if new.watch.roots != self.config.watch.roots:
            log.error("daemon.reload_failed", role="watcher",
                      error="drop roots changed: restart the watcher to apply them")
            return
        self.config = new
        self.ingestor.config = new
        self.ingestor.jobs = jobs_for(new)
        self.tracker.settle_seconds = new.watch.settle_seconds

    def _wait(self) -> None:
        """Sleep until an event arrives or the next file could be settled."""
        timeout = min(0.25, self.config.watch.settle_seconds / 4)
        if len(self.tracker) == 0:
            timeout = 0.5
        try:
            path = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return
        self._look_at(path)

    # -- observing -------------------------------------------------------------------------

    def _observer(self, poll: bool) -> BaseObserver:
        if poll not in self.observers:
            observer = PollingObserver(timeout=min(2.0, self.config.watch.settle_seconds)) \
                if poll else Observer()
            observer.start()
            self.observers[poll] = observer
        return self.observers[poll]

    def _schedule(self, root: DropRoot) -> None:
        if not root.path.is_dir():
            if root.name not in self.missing:
                log.error("watch.root_missing", root=root.name, path=str(root.path))
                self.missing.add(root.name)
            return
        handler = _Events(self.inbox)
        poll = root.name in self.polled
        try:
            self.watches[root.name] = self._observer(poll).schedule(
                handler, str(root.path), recursive=root.recursive)
        except OSError as exc:
            if poll or exc.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            self._poll_instead(root, handler, str(exc))
        else:
            if not poll:
                self._check_inotify_coverage(root, handler)
        if root.name in self.missing:
            self.missing.discard(root.name)
            log.info("watch.root_back", root=root.name, path=str(root.path))

    def _check_inotify_coverage(self, root: DropRoot, handler: _Events) -> None:
        """watchdog silently skips subfolders it cannot watch once `max_user_watches` is
        reached; count this process's inotify watches to notice, and poll the root instead."""
        self.native_folders[root.name] = sum(1 for _ in os.walk(root.path)) \
            if root.recursive else 1
        wanted = sum(self.native_folders.values())
        held = inotify_watches()
        if held is not None and held < wanted:
            time.sleep(0.2)  # a folder made during the walk gets its watch from its event
            held = inotify_watches()
        if held is None or held >= wanted:
            return
        self._observer(False).unschedule(self.watches.pop(root.name))
        del self.native_folders[root.name]
        self._poll_instead(root, handler, f"only {held} of the folders could be watched")

    def _poll_instead(self, root: DropRoot, handler: _Events, error: str) -> None:
        log.error("watch.inotify_exhausted", root=root.name, path=str(root.path),
                  error=error, fallback="polling",
                  hint="raise fs.inotify.max_user_watches / max_user_instances")
        self.polled.add(root.name)
        self.watches[root.name] = self._observer(True).schedule(
            handler, str(root.path), recursive=root.recursive)

    def _check_roots(self) -> list[DropRoot]:
        """A vanished root (unmounted share) is reported and waited for, never 'emptied'.

        Returns the roots that came back.
        """
        back = []
        for root in self.config.watch.roots:
            if root.path.is_dir():
                if root.name in self.missing or root.name not in self.watches:
                    self._schedule(root)
                    back.append(root)
            elif root.name not in self.missing:
                log.error("watch.root_missing", root=root.name, path=str(root.path))
                self.missing.add(root.name)
                watch = self.watches.pop(root.name, None)
                self.native_folders.pop(root.name, None)
                if watch is not None:
                    observer = self._observer(root.name in self.polled)
                    with contextlib.suppress(KeyError, OSError):
                        observer.unschedule(watch)
        return back

    def _root_of(self, path: Path) -> DropRoot | None:
        for root in self.config.watch.roots:
            if path.is_relative_to(root.path):
                return root
        return None

    def _wanted(self, root: DropRoot, path: Path) -> bool:
        rel = path.relative_to(root.path)
        if not rel.parts or rel.parts[0] in RESERVED:
            return False
        if not root.recursive and len(rel.parts) > 1:
            return False
        return not any(is_ignored(part, self.config.watch.ignore) for part in rel.parts)

    def _look_at(self, path: Path) -> None:
        root = self._root_of(path)
        if root is None or not self._wanted(root, path):
            return
        try:
            st = os.lstat(path)
        except OSError:
            self.tracker.observe(path, None, time.monotonic())
            return
        if stat.S_ISDIR(st.st_mode):
            self._scan_dir(root, path)  # a folder moved in brings files without events
            return
        if path not in self.tracker:
            log.info("ingest.detected", file=str(path), size=st.st_size)
        self.tracker.observe(path, Snapshot(st.st_size, st.st_mtime_ns), time.monotonic())

    def _drain_inbox(self) -> None:
        while True:
            try:
                path = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._look_at(path)

    def rescan(self) -> None:
        """Find every file in every root, events or not (start-up, overflow, polling gaps)."""
        self._check_roots()
        for root in self.config.watch.roots:
            if root.name not in self.missing:
                self._scan_dir(root, root.path)

    def _scan_dir(self, root: DropRoot, folder: Path) -> None:
        now = time.monotonic()
        for path, st in self._walk(root, folder):
            if path not in self.tracker:
                log.info("ingest.detected", file=str(path), size=st.st_size, by="scan")
            self.tracker.observe(path, Snapshot(st.st_size, st.st_mtime_ns), now)

    def _walk(self, root: DropRoot, folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
        stack = [folder]
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(current))
            except OSError as exc:
                log.warning("watch.unreadable_folder", path=str(current), error=str(exc))
                continue
            for entry in entries:
                path = Path(entry.path)
                if not self._wanted(root, path):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if root.recursive:
                        stack.append(path)
                    continue
                yield path, st

    # -- ingesting -------------------------------------------------------------------------

    def _ingest_due(self) -> None:
        """Ingest what has settled: one thread per asset at a time, so a burst of
        `_v001`, `_v002`… of one asset still goes in in order while other assets overlap.

        Frames of an image sequence wait in `self.sequences` until the whole group has been
        quiet for `sequence_settle_seconds`; the group then goes in as one item.
        """
        self.ingestor.store.tidy()
        if not self._publish_held():
            return
        now = time.monotonic()
        due: list[tuple[Path, Snapshot]] = []
        for path, snapshot in self.tracker.due(now):
            frame = frame_of(path.name)
            if frame is None:
                due.append((path, snapshot))
                continue
            pattern = path.parent / store_pattern(frame.stem, frame.padding, frame.ext)
            self.sequences.setdefault(pattern, {})[path] = snapshot
            self.sequence_seen[pattern] = now
        due += [(pattern, SEQUENCE) for pattern in self._ready_sequences(now)]
        if not due:
            return
        groups: dict[str, list[tuple[Path, Snapshot]]] = {}
        for path, snapshot in due:
            groups.setdefault(self._asset_key(path), []).append((path, snapshot))
        outage = threading.Event()
        again: list[tuple[Path, Snapshot, float]] = []
        lock = threading.Lock()

        def work(items: list[tuple[Path, Snapshot]]) -> None:
            for i, (path, snapshot) in enumerate(items):
                if outage.is_set() or self.shutdown.stop_taking.is_set():
                    with lock:
                        again.extend((p, s, 0.0) for p, s in items[i:])
                    return
                root = self._root_of(path)
                if root is None:
                    continue
                try:
                    if snapshot is SEQUENCE:
                        changed = self.ingest_sequence(root, path, self.claimable[path])
                    else:
                        changed = self.ingest_one(root, path, snapshot)
                except (CatalogUnavailable, DBAPIError, StoreError, OSError) as exc:
                    # This file and the rest wait, already settled, until the backoff ends;
                    # a held one waits in `held` instead.
                    rest = items[i + 1:] if isinstance(exc, UnpublishedVersion) else items[i:]
                    with lock:
                        again.extend((p, s, 0.0) for p, s in rest)
                    if not outage.is_set():
                        outage.set()
                        log.error("ingest.deferred", file=str(path), error=str(exc),
                                  retry_in=self.backoff)
                    return
                with lock:
                    again.extend((p, s, time.monotonic()) for p, s in changed)

        list(self.pool.map(work, groups.values()))
        for path, snapshot, since in again:
            if snapshot is SEQUENCE:
                self.sequences[path] = self.claimable[path]
                self.sequence_seen[path] = 0.0
            else:
                self.tracker.observe(path, snapshot, since)
        self.claimable.clear()
        if outage.is_set():
            self._back_off()
        else:
            self.backoff = 0.5

    def _back_off(self) -> None:
        self.pause_until = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, 10.0)

    def _hold(self, held: UnpublishedVersion, claims: list[Claim], origin: Path) -> None:
        with self.held_lock:
            self.held.append((held, claims, origin))

    def _publish_held(self) -> bool:
        """Publish what the store refused before; False (and back off) while it still refuses."""
        while self.held:
            held, claims, origin = self.held[0]
            try:
                self.ingestor.finish_publishing(held, origin)
            except StoreError as exc:
                log.error("ingest.deferred", file=str(origin), error=str(exc),
                          retry_in=self.backoff)
                self._back_off()
                return False
            for claim in claims:
                claim.staged.unlink(missing_ok=True)
            self.held.pop(0)
            self.processed += 1
        return True

    def _ready_sequences(self, now: float) -> list[Path]:
        """Sequences with no frame still settling and no new frame for a quiet period."""
        busy = set()
        for path in self.tracker.candidates():
            frame = frame_of(path.name)
            if frame is not None:
                busy.add(path.parent / store_pattern(frame.stem, frame.padding, frame.ext))
        ready = [pattern for pattern, seen in self.sequence_seen.items()
                 if pattern not in busy
                 and now - seen >= self.config.watch.sequence_settle_seconds]
        for pattern in ready:
            del self.sequence_seen[pattern]
            self.claimable[pattern] = self.sequences.pop(pattern)
        return ready

    def _asset_key(self, path: Path) -> str:
        root = self._root_of(path)
        if root is not None:
            name = sequence_name(path.name) if is_sequence(path.name) else path.name
            parsed = self.config.rule_for(root).parse(name)
            if isinstance(parsed, ParsedName):
                return parsed.asset
        return str(path)

    def ingest_one(self, root: DropRoot, path: Path,
                   snapshot: Snapshot) -> list[tuple[Path, Snapshot]]:
        """Claim and ingest one settled file; returns it with a new snapshot if it changed."""
        rel = path.relative_to(root.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return []
        if Snapshot(st.st_size, st.st_mtime_ns) != snapshot:
            return [(path, Snapshot(st.st_size, st.st_mtime_ns))]
        log.info("ingest.settled", file=str(path), size=st.st_size)
        if stat.S_ISLNK(st.st_mode):
            log.warning("ingest.symlink_ignored", file=str(path), target=os.readlink(path),
                        reason="symlinks are never followed; drop the file itself")
            return []
        rule = self.config.rule_for(root)
        if not stat.S_ISREG(st.st_mode):
            reason = "is not a regular file (a pipe, socket or device); only files are ingested"
            self._set_aside(root, rel, path, REJECTED,
                            rejection_note(path.name, reason, rule.example, rule.template))
            log.info("ingest.rejected", file=str(path), reason=reason)
            return []
        claim = self._claims(root).claim(path, rel)
        if claim is None:
            return []  # another watcher claimed it first
        try:
            outcome = self.ingestor.ingest(claim.staged, rule, link=True, token=claim.token,
                                           origin=path, expected_size=snapshot.size,
                                           name=path.name)
        except UnpublishedVersion as exc:
            self._hold(exc, [claim], path)
            raise
        except BaseException:
            self._put_back(claim.staged, path)
            raise
        if outcome.status == "accepted":
            claim.staged.unlink()
        elif outcome.status == "changed":
            self._put_back(claim.staged, path)
            now = snapshot_of(path)
            return [(path, now)] if now else []
        elif outcome.status == "duplicate":
            self._set_aside(root, rel, claim.staged, DUPLICATES,
                            duplicate_note(path.name, outcome.reason))
        else:
            self._set_aside(root, rel, claim.staged, REJECTED,
                            rejection_note(path.name, outcome.reason, rule.example, rule.template))
        self.processed += 1
        return []

    def ingest_sequence(self, root: DropRoot, pattern: Path,
                        frames: dict[Path, Snapshot]) -> list[tuple[Path, Snapshot]]:
        """Claim every frame of a settled sequence and ingest them as one version.

        If any frame changed or vanished since it settled, nothing is claimed and every
        frame goes back to the tracker to settle again.
        """
        current = {path: snapshot_of(path) for path in frames}
        if any(current[p] != s for p, s in frames.items()):
            return [(p, s) for p, s in current.items() if s is not None]
        log.info("ingest.settled", file=str(pattern), frames=len(frames))
        area = self._claims(root)
        shared = uuid.uuid4().hex[:12]
        claims = [c for p in sorted(frames)
                  if (c := area.claim(p, p.relative_to(root.path), random=shared)) is not None]
        if not claims:
            return []
        rule = self.config.rule_for(root)
        try:
            outcome = self.ingestor.ingest_sequence(
                [(c.staged, frame_of(c.rel.name)) for c in claims], rule, link=True,
                token=claims[0].token, origin=pattern)
        except UnpublishedVersion as exc:
            self._hold(exc, claims, pattern)
            raise
        except BaseException:
            for claim in claims:
                self._put_back(claim.staged, root.path / claim.rel)
            raise
        if outcome.status == "accepted":
            for claim in claims:
                claim.staged.unlink()
        else:
            folder = DUPLICATES if outcome.status == "duplicate" else REJECTED
            for claim in claims:
                set_aside(root.path, claim.rel, claim.staged, folder, note=None)
            note = (duplicate_note(pattern.name, outcome.reason) if folder == DUPLICATES
                    else rejection_note(pattern.name, outcome.reason, rule.example,
                                        rule.template))
            rel_pattern = pattern.relative_to(root.path)
            set_aside_note(root.path, rel_pattern, folder, note)
            log.info("ingest.set_aside", file=str(pattern), moved_to=str(root.path / folder),
                     frames=len(claims))
        self.processed += 1
        return []

    def _claims(self, root: DropRoot) -> ClaimArea:
        if root.name not in self.claim_areas:
            self.claim_areas[root.name] = ClaimArea(root.path, self.ingestor.host)
        return self.claim_areas[root.name]

    def _set_aside(self, root: DropRoot, rel: Path, current: Path, folder: str, note: str) -> None:
        target = set_aside(root.path, rel, current, folder, note)
        log.info("ingest.set_aside", file=str(root.path / rel), moved_to=str(target))

    @staticmethod
    def _put_back(staged: Path, original: Path) -> None:
        if staged.exists():
            original.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, free_name(original))

    # -- recovery --------------------------------------------------------------------------

    def recover(self) -> None:
        """Finish or undo what dead processes of this host left half-way (see module doc)."""
        self.ingestor.recover_staged()
        for root in self.config.watch.roots:
            staging = root.path / WORKDIR / STAGING
            if not staging.is_dir():
                continue
            for folder in staging.iterdir():
                if not left_by_dead_process(owner_of(folder.name)):
                    continue
                for claim in leftover_claims(folder):
                    self._recover_claim(root, claim)
                shutil.rmtree(folder, ignore_errors=True)

    def _recover_claim(self, root: DropRoot, claim: Claim) -> None:
        original = root.path / claim.rel
        version = find_by_token(self.ingestor.engine, claim.token)
        if version is None:
            self._put_back(claim.staged, original)
            log.info("ingest.recovered", file=str(original), action="returned")
            return
        store = self.ingestor.store
        # A sequence's store side was published by recover_staged already.
        if not is_sequence(version.store_path) and not store.path(version.store_path).exists():
            store.publish(store.stage(claim.staged, claim.token, link=True), version.store_path)
        claim.staged.unlink()
        log.info("ingest.recovered", file=str(original), asset=version.asset,
                 version=version.label, version_id=version.id, action="finished")
