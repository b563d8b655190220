"""inotify for one drop root, read straight from watchdog's inotify file descriptor.

watchdog's `Observer` pairs every IN_MOVED_TO with its IN_MOVED_FROM by searching a queue
of every event not yet dispatched -- a linear search per event, in which a 10,000-file
burst spent a quarter of the watcher's time -- and then hands each event through two more
threads. The watcher needs none of that, only "look at this path". So a `RootWatch`
takes raw events from watchdog's shared `InotifyFD` and puts their paths in the inbox. It
watches the root's folders except the reserved ones (`.axiomd/`, `_rejected/`, …), so
the watcher's own claims, receipts and set-asides bring no events at all, and asks only
for what can bring a file to settle (no opens, reads or deletes).
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

from watchdog.observers.inotify_c import InotifyConstants as In
from watchdog.observers.inotify_c import InotifyEvent, InotifyFD

from axiomd.config import DropRoot
from axiomd.watcher.drop import RESERVED, is_ignored

MASK = (In.IN_CREATE | In.IN_MODIFY | In.IN_ATTRIB | In.IN_CLOSE_WRITE | In.IN_MOVED_TO
        | In.IN_ONLYDIR)
# Running out of watches or inotify instances: the root is polled instead.
EXHAUSTED = (errno.ENOSPC, errno.EMFILE)
# A folder moved within the root keeps its watch, and watching it under its new name
# re-registers the same callback, which is what is wanted; watchdog warns about it.
warnings.filterwarnings("ignore", r"Callback with id .* already exists", RuntimeWarning)


class RootWatch:
    """One root's inotify watches, one per wanted folder (watchdog's `WatchCallback`)."""

    def __init__(self, root: DropRoot, ignore: Iterable[str], inbox: queue.Queue[Path],
                 overflowed: threading.Event) -> None:
        self.root, self.ignore = root, tuple(ignore)
        self.inbox, self.overflowed = inbox, overflowed
        self.folders: dict[int, Path] = {}  # watch descriptor -> folder
        self.lock = threading.Lock()
        self.failed: str | None = None  # why a new folder could not be watched

    def start(self) -> None:
        """Watch every wanted folder; OSError (ENOSPC, EMFILE) if they cannot all be."""
        self._watch_tree(self.root.path)

    def stop(self) -> None:
        with self.lock:
            wds, self.folders = list(self.folders), {}
        InotifyFD.get_instance().remove_callbacks([(wd, id(self)) for wd in wds])

    def _wanted_folder(self, folder: Path) -> bool:
        rel = folder.relative_to(self.root.path)
        if not rel.parts:
            return True
        if not self.root.recursive or rel.parts[0] in RESERVED:
            return False
        return not any(is_ignored(part, self.ignore) for part in rel.parts)

    def _watch_tree(self, top: Path) -> None:
        inotify = InotifyFD.get_instance()
        stack = [top]
        while stack:
            folder = stack.pop()
            if not self._wanted_folder(folder):
                continue
            try:
                wd = inotify.add_callback(os.fsencode(folder), MASK, self, id(self))
            except OSError as exc:
                if exc.errno in EXHAUSTED:
                    raise
                continue  # gone already, or not a folder after all
            with self.lock:
                self.folders[wd] = folder
            if self.root.recursive:
                try:
                    stack += [Path(e.path) for e in os.scandir(folder)
                              if e.is_dir(follow_symlinks=False)]
                except OSError:
                    continue

    # -- watchdog's WatchCallback ------------------------------------------------------------

    def on_event(self, event: InotifyEvent) -> None:
        with self.lock:
            folder = self.folders.get(event.wd)
        if folder is None or not event.name:
            return
        path = folder / os.fsdecode(event.name)
        if event.is_directory and (event.is_create or event.is_moved_to):
            try:
                self._watch_tree(path)
            except OSError as exc:
                self.failed = f"{path} could not be watched: {exc.strerror}"
        self.inbox.put(path)

    def on_watch_deleted(self, wd: int) -> None:
        with self.lock:
            self.folders.pop(wd, None)

    def on_queue_overflow(self) -> None:
        self.overflowed.set()
