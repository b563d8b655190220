"""Is a dropped file finished, and may the store keep its inode?

Quiet for `settle_seconds` is not the same as finished: a slow SMB copy or an app that
flushes in two steps can pause longer with the file still open. The kernel knows whether
anyone holds a file open for writing: a read lease (`F_SETLEASE`) is granted only when
nobody does. Where leases cannot answer (another user's file, a network filesystem),
the size, mtime and inode are compared before and after the bytes are read.

A hard link makes the store's version *the same inode* as the dropped file, so it is
only safe for a file with one link, owned by the daemon's user, that nobody is writing:
anything else is copied, and the file outside the store is never changed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

STILL_OPEN = "still open for writing"
CHANGED = "changed while it was read"


@dataclass(frozen=True)
class Fingerprint:
    """What must stay the same while a file is read: its size, mtime and inode."""

    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> Fingerprint:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def fingerprint(path: Path) -> Fingerprint | None:
    try:
        return Fingerprint.of(os.lstat(path))
    except OSError:
        return None


def open_for_writing(path: Path) -> bool | None:
    """True when some process holds `path` open for writing, False when none does, None
    when the kernel cannot say (not our file, or a filesystem without leases)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno in (errno.EAGAIN, errno.EBUSY) else None
    else:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def may_link(st: os.stat_result, writing: bool | None) -> bool:
    """Only a file that is ours alone, and that nobody is writing, may become the store's."""
    return st.st_nlink == 1 and st.st_uid == os.geteuid() and writing is False
