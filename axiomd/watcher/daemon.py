"""`axiomd watch`: drop folders in, versions out.

How one file travels, and why a kill -9 at any point loses nothing:

1. Events and scans (`sources.py`) feed a `SettleTracker` (`settle.py`).
2. Settled files become work (`batching.py`): single files, and image sequences once
   all their frames have been quiet, grouped by asset.
3. Each item is claimed into this process's claim folder and ingested (`intake.py`);
   only after the version is committed and published is the claimed file removed.
4. At start, `recovery.py` finishes or undoes what a dead watcher of this host left.

This module only turns the loop: which of those to do next, and when.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from axiomd.catalog import heartbeats
from axiomd.config import Config, DropRoot
from axiomd.daemon import Backoff, Service, Shutdown
from axiomd.identity import heartbeat_name
from axiomd.ingest import Ingestor
from axiomd.log import get_logger
from axiomd.naming import ParsedName
from axiomd.sequences import is_sequence, sequence_name
from axiomd.watcher.batching import Batcher
from axiomd.watcher.drop import prune_receipts
from axiomd.watcher.intake import DEFERRING, Intake
from axiomd.watcher.recovery import live_processes, recover
from axiomd.watcher.settle import SettleTracker, Snapshot
from axiomd.watcher.sources import DropSources, walk, wanted

log = get_logger("watcher")

ROOT_CHECK_SECONDS = 2.0
PRUNE_SECONDS = 3600.0


class Watcher(Service):
    role = "watcher"

    def __init__(self, config: Config, ingestor: Ingestor, shutdown: Shutdown,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config, ingestor.engine, shutdown)
        self.clock = clock
        self.ingestor = ingestor
        self.sources = DropSources(config.watch)
        self.tracker = SettleTracker(config.watch.settle_seconds, config.watch.empty_file_seconds)
        self.batcher = Batcher(config.watch.sequence_settle_seconds, self._asset_of)
        self.intake = Intake(ingestor, lambda root: self.config.rule_for(root),
                             config.watch.ingest_threads,
                             gap_wait=lambda: self.config.watch.gap_wait_seconds,
                             receipt_days=lambda: self.config.watch.receipt_days, clock=clock)
        self.backoff = Backoff(first=0.5, cap=10.0)
        self.pause_until = 0.0
        self.processed = 0
        self.last_rescan = self.last_root_check = self.last_adoption = 0.0
        self.last_pruning = float("-inf")
        self.reported_roots: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())

    # -- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        self._adopt_orphans()
        self.sources.start()
        log.info("watch.started", roots=[str(r.path) for r in self.config.watch.roots])
        self.rescan()

    def step(self) -> None:
        self._look_at_events()
        now = self.clock()
        if (self.sources.rescan_now.is_set()
                or now - self.last_rescan >= self.config.watch.rescan_seconds):
            self.sources.rescan_now.clear()
            self.rescan()
        elif now - self.last_root_check >= ROOT_CHECK_SECONDS:
            # A share that comes back is scanned at once, not at the next rescan.
            for root in self.sources.check_roots():
                self._scan(root, root.path)
            self.last_root_check = now
        self._report_roots()
        if now - self.last_adoption >= self.config.watch.adopt_after_seconds / 4:
            try:
                self._adopt_orphans()
            except DEFERRING as exc:  # the catalog is away: ingest reports it; try later
                log.warning("watch.adopt_failed", error=str(exc))
        if now - self.last_pruning >= PRUNE_SECONDS:
            self._prune_receipts()
        if now >= self.pause_until:
            self.ingest_due()
        self._wait()

    def _prune_receipts(self) -> None:
        self.last_pruning = self.clock()
        days = self.config.watch.receipt_days
        if days > 0:
            for root in self.sources.present_roots():
                prune_receipts(root.path, time.time() - days * 86400)

    def _adopt_orphans(self) -> None:
        """Finish the claims of watchers that died (here, or on a host gone silent)."""
        self.last_adoption = self.clock()
        live = live_processes(self.ingestor, self.config.watch.adopt_after_seconds)
        recover(self.ingestor, self.config.watch.roots, live)

    def _report_roots(self) -> None:
        """Missing roots, and roots polled because inotify ran out, go on this watcher's
        heartbeat, for `axiomd status`."""
        by_choice = {r.name for r in self.config.watch.roots if r.poll}
        state = (frozenset(self.sources.missing), frozenset(self.sources.polled - by_choice))
        if state == self.reported_roots:
            return
        try:
            heartbeats.report_roots(self.engine, heartbeat_name(self.role), *state)
        except Exception as exc:  # the catalog being down is reported by ingest itself
            log.warning("daemon.heartbeat_failed", role=self.role, error=str(exc))
            return
        self.reported_roots = state

    def reload(self, config: Config) -> None:
        """Naming rules, ignore globs, settle times and presets change live; roots need a
        restart."""
        if config.watch.roots != self.config.watch.roots:
            log.error("daemon.reload_failed", role=self.role,
                      error="drop roots changed: restart the watcher to apply them")
            return
        self.config = config
        self.ingestor.reconfigure(config)
        self.sources.settings = config.watch
        self.tracker.settle_seconds = config.watch.settle_seconds
        self.tracker.empty_seconds = config.watch.empty_file_seconds
        self.batcher.sequence_settle_seconds = config.watch.sequence_settle_seconds

    def close(self) -> None:
        self.sources.stop()
        self.intake.close()
        log.info("watch.stopped", processed=self.processed)

    def _wait(self) -> None:
        """Sleep until an event arrives or the next file could be settled."""
        timeout = min(0.25, self.config.watch.settle_seconds / 4) if len(self.tracker) else 0.5
        path = self.sources.next_event(timeout)
        if path is not None:
            self._look_at(path)

    # -- finding files ---------------------------------------------------------------------

    def _look_at_events(self) -> None:
        while (path := self.sources.next_event(0)) is not None:
            self._look_at(path)

    def _look_at(self, path: Path) -> None:
        root = self.sources.root_of(path)
        if root is None or not wanted(root, path, self.config.watch.ignore):
            return
        try:
            st = os.lstat(path)
        except OSError:
            self.tracker.observe(path, None, self.clock())
            self.batcher.forget(path)
            return
        if stat.S_ISDIR(st.st_mode):
            self._scan(root, path)  # a folder moved in brings files without events
            return
        self._observe(path, st, by="event")

    def rescan(self) -> None:
        """Find every file in every root, events or not (start-up, overflow, polling gaps)."""
        now = self.clock()
        self.last_rescan = self.last_root_check = now
        self.sources.check_roots()
        for root in self.sources.present_roots():
            self._scan(root, root.path)

    def _scan(self, root: DropRoot, folder: Path) -> None:
        for path, st in walk(root, folder, self.config.watch.ignore):
            self._observe(path, st, by="scan")

    def _observe(self, path: Path, st: os.stat_result, by: str) -> None:
        snapshot = Snapshot.of(st)
        held = self.batcher.holds(path)
        if held == snapshot:
            return  # settled already and waiting for its sequence: not news
        if held is not None:
            self.batcher.forget(path)
        elif path not in self.tracker:
            log.info("ingest.detected", file=str(path), size=st.st_size, by=by)
        self.tracker.observe(path, snapshot, self.clock())

    # -- ingesting -------------------------------------------------------------------------

    def ingest_due(self) -> None:
        """Ingest what is ready: one thread per asset at a time, so `_v001`, `_v002`… of
        one asset go in in order while other assets overlap."""
        self.ingestor.tidy_store()
        refused = self.intake.publish_held()
        if refused is not None:
            self._back_off(refused)
            return
        now = self.clock()
        self.batcher.add(self.tracker.due(now), now)
        groups = self.batcher.take(now, self.tracker.candidates())
        if not groups:
            return
        worked = self.intake.work(groups, self.sources.root_of, self.shutdown.stop_taking)
        self.processed += worked.processed
        self.batcher.retry(worked.again)
        changed_at = self.clock()
        for path, snapshot in worked.changed:
            self.tracker.observe(path, snapshot, changed_at)
        if worked.deferred_by is not None:
            self._back_off(worked.deferred_by)
        else:
            self.backoff.reset()

    def _back_off(self, cause: BaseException) -> None:
        """The catalog or store refused (`ingest.deferred` said so): wait before the next try."""
        self.pause_until = self.clock() + self.backoff.next()

    def _asset_of(self, path: Path) -> str:
        root = self.sources.root_of(path)
        if root is not None:
            name = sequence_name(path.name) if is_sequence(path.name) else path.name
            parsed = self.config.rule_for(root).parse(name)
            if isinstance(parsed, ParsedName):
                return parsed.asset
        return str(path)
