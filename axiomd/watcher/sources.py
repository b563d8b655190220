"""Where files come from: observers (inotify, or polling for shares), drop roots coming
and going, inotify running out, and scans that find files without any event.

What is found goes to a `SettleTracker` as (path, snapshot); nothing here decides when a
file is ready or what happens to it. Scanning takes the file system's functions as
arguments, so it can be checked against a made-up tree.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from axiomd.config import DropRoot, WatchSettings
from axiomd.log import get_logger
from axiomd.watcher.drop import RESERVED, SIDECAR, is_ignored
from axiomd.watcher.settle import Snapshot

log = get_logger("watcher")

ScanDir = Callable[[Path], Iterable[os.DirEntry[str]]]


def snapshot_of(path: Path, lstat: Callable[[Path], os.stat_result] = os.lstat) -> Snapshot | None:
    try:
        st = lstat(path)
    except OSError:
        return None
    return Snapshot.of(st)


def wanted(root: DropRoot, path: Path, ignore: Iterable[str]) -> bool:
    """Is `path` something the artist dropped (not a reserved folder, not ignored)?"""
    rel = path.relative_to(root.path)
    if not rel.parts or rel.parts[0] in RESERVED:
        return False
    if not root.recursive and len(rel.parts) > 1:
        return False
    if rel.name.endswith(SIDECAR):
        return False  # read with the file it describes
    return not any(is_ignored(part, ignore) for part in rel.parts)


def walk(root: DropRoot, folder: Path, ignore: Iterable[str],
         scandir: ScanDir = os.scandir) -> Iterator[tuple[Path, os.stat_result]]:
    """Every wanted file under `folder`, with its lstat; reserved folders are never entered."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(scandir(current))
        except OSError as exc:
            log.warning("watch.unreadable_folder", path=str(current), error=str(exc))
            continue
        for entry in entries:
            path = Path(entry.path)
            if not wanted(root, path, ignore):
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


class _Events(FileSystemEventHandler):
    """Turns watchdog events into paths to look at; the watcher's loop does the looking."""

    def __init__(self, inbox: queue.SimpleQueue[Path]) -> None:
        self.inbox = inbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return  # its files bring their own events; rescanning it for each is quadratic
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


class Poller(threading.Thread):
    """Polls roots where inotify cannot help (SMB/NFS shares, or inotify ran out).

    Every `every` seconds it walks each root the way a scan does -- reserved folders
    (`_rejected/`, `_duplicates/`, `.axiomd/`) never entered, ignored names skipped -- and
    posts every file that appeared, changed or vanished since the last walk. It keeps one
    (size, mtime) pair per wanted file and nothing else: a share with 100,000 files in
    `_rejected/` costs nothing here.
    """

    def __init__(self, inbox: queue.SimpleQueue[Path], ignore: Iterable[str],
                 every: float) -> None:
        super().__init__(name="poller", daemon=True)
        self.inbox, self.ignore, self.every = inbox, tuple(ignore), every
        self.roots: dict[str, DropRoot] = {}
        self.seen: dict[str, dict[str, tuple[int, int]]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def add(self, root: DropRoot) -> None:
        with self.lock:
            self.roots[root.name] = root
        if self.ident is None:
            self.start()

    def remove(self, root: DropRoot) -> None:
        with self.lock:
            self.roots.pop(root.name, None)
            self.seen.pop(root.name, None)

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            with self.lock:
                roots = list(self.roots.values())
            for root in roots:
                self.poll(root)

    def poll(self, root: DropRoot) -> None:
        before = self.seen.get(root.name, {})
        now = {os.fspath(path): (st.st_size, st.st_mtime_ns)
               for path, st in walk(root, root.path, self.ignore)}
        for path in now.keys() - before.keys() | before.keys() - now.keys():
            self.inbox.put(Path(path))
        for path, snapshot in now.items():
            if before.get(path, snapshot) != snapshot:
                self.inbox.put(Path(path))
        with self.lock:
            if root.name in self.roots:
                self.seen[root.name] = now


class DropSources:
    """The observers of every drop root, and which roots are missing or polled."""

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self.inbox: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self.rescan_now = threading.Event()
        self.poller = Poller(self.inbox, settings.ignore, min(2.0, settings.settle_seconds))
        self.observers: dict[bool, BaseObserver] = {}
        self.watches: dict[str, ObservedWatch] = {}  # inotify watches, by root
        self.scheduled: set[str] = set()  # roots watched or polled
        self.native_folders: dict[str, int] = {}  # root -> folders inotify should be watching
        self.polled: set[str] = {r.name for r in settings.roots if r.poll}
        self.missing: set[str] = set()
        self._alarm = _OverflowAlarm(self.rescan_now)

    def start(self) -> None:
        logging.getLogger("watchdog").addHandler(self._alarm)
        for root in self.settings.roots:
            self._schedule(root)

    def stop(self) -> None:
        self.poller.stopping.set()
        for observer in self.observers.values():
            observer.stop()
        for observer in self.observers.values():
            observer.join(timeout=5)
        logging.getLogger("watchdog").removeHandler(self._alarm)

    def root_of(self, path: Path) -> DropRoot | None:
        for root in self.settings.roots:
            if path.is_relative_to(root.path):
                return root
        return None

    def next_event(self, timeout: float) -> Path | None:
        try:
            return self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return None

    def check_roots(self) -> list[DropRoot]:
        """A vanished root (unmounted share) is reported and waited for, never 'emptied'.

        Returns the roots that came back.
        """
        back = []
        for root in self.settings.roots:
            if root.path.is_dir():
                if root.name in self.missing or root.name not in self.scheduled:
                    self._schedule(root)
                    back.append(root)
            elif root.name not in self.missing:
                log.error("watch.root_missing", root=root.name, path=str(root.path))
                self.missing.add(root.name)
                self.poller.remove(root)
                self.scheduled.discard(root.name)
                watch = self.watches.pop(root.name, None)
                self.native_folders.pop(root.name, None)
                if watch is not None:
                    with contextlib.suppress(KeyError, OSError):
                        self._observer().unschedule(watch)
        return back

    def present_roots(self) -> list[DropRoot]:
        return [r for r in self.settings.roots if r.name not in self.missing]

    def _observer(self) -> BaseObserver:
        if not self.observers:
            observer = Observer()
            observer.start()
            self.observers[False] = observer
        return self.observers[False]

    def _schedule(self, root: DropRoot) -> None:
        if not root.path.is_dir():
            if root.name not in self.missing:
                log.error("watch.root_missing", root=root.name, path=str(root.path))
                self.missing.add(root.name)
            return
        self.scheduled.add(root.name)
        if root.name in self.polled:
            self.poller.add(root)
        else:
            handler = _Events(self.inbox)
            try:
                self.watches[root.name] = self._observer().schedule(
                    handler, str(root.path), recursive=root.recursive)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                self._poll_instead(root, str(exc))
            else:
                self._check_inotify_coverage(root)
        if root.name in self.missing:
            self.missing.discard(root.name)
            log.info("watch.root_back", root=root.name, path=str(root.path))

    def _check_inotify_coverage(self, root: DropRoot) -> None:
        """watchdog silently skips subfolders it cannot watch once `max_user_watches` is
        reached; count this process's inotify watches to notice, and poll the root instead."""
        self.native_folders[root.name] = sum(1 for _ in os.walk(root.path)) \
            if root.recursive else 1
        expected = sum(self.native_folders.values())
        held = inotify_watches()
        if held is not None and held < expected:
            time.sleep(0.2)  # a folder made during the walk gets its watch from its event
            held = inotify_watches()
        if held is None or held >= expected:
            return
        self._observer().unschedule(self.watches.pop(root.name))
        del self.native_folders[root.name]
        self._poll_instead(root, f"only {held} of the folders could be watched")

    def _poll_instead(self, root: DropRoot, error: str) -> None:
        log.error("watch.inotify_exhausted", root=root.name, path=str(root.path),
                  error=error, fallback="polling",
                  hint="raise fs.inotify.max_user_watches / max_user_instances")
        self.polled.add(root.name)
        self.poller.add(root)
