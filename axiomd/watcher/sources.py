"""Where files come from: observers (inotify, or polling for shares), drop roots coming
and going, inotify running out, and scans that find files without any event.

What is found goes to a `SettleTracker` as (path, snapshot); nothing here decides when a
file is ready or what happens to it. Scanning takes the file system's functions as
arguments, so it can be checked against a made-up tree.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from axiomd.config import DropRoot, WatchSettings
from axiomd.log import get_logger
from axiomd.watcher.drop import RESERVED, SIDECAR, is_ignored
from axiomd.watcher.inotify import EXHAUSTED, RootWatch
from axiomd.watcher.settle import Snapshot

log = get_logger("watcher")

ScanDir = Callable[[Path], Iterable[os.DirEntry[str]]]


def snapshot_of(path: Path, lstat: Callable[[Path], os.stat_result] = os.lstat) -> Snapshot | None:
    try:
        st = lstat(path)
    except OSError:
        return None
    return Snapshot.of(st)


def parts_under(folder: Path, path: Path) -> list[str] | None:
    """`path`'s parts below `folder` ([] for `folder` itself), None if it is not under it.
    Paths are compared as text, as `Path.relative_to` does, at a tenth of its cost: the
    watcher asks for every event."""
    text, top = str(path), str(folder)
    if text == top:
        return []
    prefix = top if top.endswith("/") else top + "/"
    return text[len(prefix):].split("/") if text.startswith(prefix) else None


def wanted(root: DropRoot, path: Path, ignore: Iterable[str]) -> bool:
    """Is `path` something the artist dropped (not a reserved folder, not ignored)?"""
    parts = parts_under(root.path, path)
    if not parts or parts[0] in RESERVED:
        return False
    if not root.recursive and len(parts) > 1:
        return False
    if parts[-1].endswith(SIDECAR):
        return False  # read with the file it describes
    return not any(is_ignored(part, ignore) for part in parts)


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


class Poller(threading.Thread):
    """Polls roots where inotify cannot help (SMB/NFS shares, or inotify ran out).

    Every `every` seconds it walks each root the way a scan does -- reserved folders
    (`_rejected/`, `_duplicates/`, `.axiomd/`) never entered, ignored names skipped -- and
    posts every file that appeared, changed or vanished since the last walk. It keeps one
    (size, mtime) pair per wanted file and nothing else: a share with 100,000 files in
    `_rejected/` costs nothing here.
    """

    def __init__(self, inbox: queue.Queue[Path], ignore: Iterable[str],
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
    """The inotify watches or pollers of every drop root, and which roots are missing."""

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        # Not SimpleQueue: on CPython 3.11 its timed get() waits forever once a signal
        # handler (SIGTERM, SIGHUP) ends past the deadline, and the loop stops turning.
        self.inbox: queue.Queue[Path] = queue.Queue()
        self.rescan_now = threading.Event()  # set when the kernel's event queue overflowed
        self.poller = Poller(self.inbox, settings.ignore, min(2.0, settings.settle_seconds))
        self.watches: dict[str, RootWatch] = {}  # inotify, by root
        self.scheduled: set[str] = set()  # roots watched or polled
        self.polled: set[str] = {r.name for r in settings.roots if r.poll}
        self.missing: set[str] = set()

    def start(self) -> None:
        for root in self.settings.roots:
            self._schedule(root)

    def stop(self) -> None:
        self.poller.stopping.set()
        for watch in self.watches.values():
            watch.stop()
        self.watches.clear()

    def root_of(self, path: Path) -> DropRoot | None:
        for root in self.settings.roots:
            if parts_under(root.path, path) is not None:
                return root
        return None

    def next_event(self, timeout: float) -> Path | None:
        try:
            return self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return None

    def check_roots(self) -> list[DropRoot]:
        """A vanished root (unmounted share) is reported and waited for, never 'emptied'.
        A root where a new folder could not be watched is polled from now on.

        Returns the roots that came back (or went over to polling): scan them now.
        """
        back = []
        for root in self.settings.roots:
            watch = self.watches.get(root.name)
            if root.path.is_dir():
                if root.name in self.missing or root.name not in self.scheduled:
                    self._schedule(root)
                    back.append(root)
                elif watch is not None and watch.failed is not None:
                    self.watches.pop(root.name).stop()
                    self._poll_instead(root, watch.failed)
                    back.append(root)
            elif root.name not in self.missing:
                log.error("watch.root_missing", root=root.name, path=str(root.path))
                self.missing.add(root.name)
                self.poller.remove(root)
                self.scheduled.discard(root.name)
                if watch is not None:
                    self.watches.pop(root.name).stop()
        return back

    def present_roots(self) -> list[DropRoot]:
        return [r for r in self.settings.roots if r.name not in self.missing]

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
            watch = RootWatch(root, self.settings.ignore, self.inbox, self.rescan_now)
            try:
                watch.start()
            except OSError as exc:
                watch.stop()
                if exc.errno not in EXHAUSTED:
                    raise
                self._poll_instead(root, str(exc))
            else:
                self.watches[root.name] = watch
        if root.name in self.missing:
            self.missing.discard(root.name)
            log.info("watch.root_back", root=root.name, path=str(root.path))

    def _poll_instead(self, root: DropRoot, error: str) -> None:
        log.error("watch.inotify_exhausted", root=root.name, path=str(root.path),
                  error=error, fallback="polling",
                  hint="raise fs.inotify.max_user_watches / max_user_instances")
        self.polled.add(root.name)
        self.poller.add(root)
