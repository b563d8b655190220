"""Who did it: the names that processes, tokens and leases carry, built and read here only.

    process    host.pid.instance              a running axiomd process (its claim folder)
    token      host.pid.instance.random12     one staged file or sequence (store, catalog)
    worker     host.pid.instance              the lease owner on the jobs a worker holds
                                              (one worker per process: its process name)
    heartbeat  role@host.pid.instance         one daemon's row in the heartbeat table

The instance (`i` and 7 hex digits) is new at every start: a container's PID 1, or a pid
reused after a reboot, is the same host and pid as a process that is gone, never the
same instance. Host names may themselves contain dots, so names are read from the
right; names from before instances (`host.pid`) are still read.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import NamedTuple

INSTANCE = f"i{uuid.uuid4().hex[:7]}"


class Owner(NamedTuple):
    host: str
    pid: int
    instance: str | None = None


def host() -> str:
    return socket.gethostname()


def process_name() -> str:
    return f"{host()}.{os.getpid()}.{INSTANCE}"


def random12() -> str:
    """The random part of a token: 12 hex digits (uuid4 costs five times as much, per file)."""
    return os.urandom(6).hex()


def new_token() -> str:
    """A staging token that says which host and process made it, so recovery knows."""
    return f"{process_name()}.{random12()}"


def heartbeat_name(role: str, process: str | None = None) -> str:
    return f"{role}@{process or process_name()}"



def owner_of(process: str) -> Owner | None:
    """`host.pid.instance` (or an older `host.pid`) → Owner; None for anything else."""
    rest, _, last = process.rpartition(".")
    if last.isdigit():
        return Owner(rest, int(last)) if rest else None
    name, _, pid = rest.rpartition(".")
    if not (name and pid.isdigit() and last.startswith("i") and len(last) == 8):
        return None
    return Owner(name, int(pid), last)


def token_owner(token: str) -> Owner | None:
    """`host.pid.random` → the Owner of the process that made this token."""
    return owner_of(token.rpartition(".")[0])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_me(owner: Owner | None) -> bool:
    return owner is not None and owner == (host(), os.getpid(), INSTANCE)


def left_by_dead_process(owner: Owner | None) -> bool:
    """True for what a process of this host left behind and can no longer finish itself.

    Another host's processes cannot be checked from here (their heartbeats tell); this
    process is alive; an earlier process with this process's pid is not.
    """
    if owner is None or owner.host != host() or is_me(owner):
        return False
    return owner.pid == os.getpid() or not pid_alive(owner.pid)
