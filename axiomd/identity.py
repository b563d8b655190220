"""Who did it: the names that processes, tokens and leases carry, built and read here only.

    process    host.pid              a running axiomd process (its claim folder)
    token      host.pid.random12     one staged file or image sequence (store, catalog)
    worker     host.pid.random6      the lease owner a worker writes on the jobs it holds
    heartbeat  role@host.pid         one daemon's row in the heartbeat table

Host names may themselves contain dots, so names are read from the right.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import NamedTuple


class Owner(NamedTuple):
    host: str
    pid: int


def host() -> str:
    return socket.gethostname()


def process_name(pid: int | None = None) -> str:
    return f"{host()}.{pid or os.getpid()}"


def new_token() -> str:
    """A staging token that says which host and process made it, so recovery knows."""
    return f"{process_name()}.{uuid.uuid4().hex[:12]}"


def worker_name() -> str:
    return f"{process_name()}.{uuid.uuid4().hex[:6]}"


def heartbeat_name(role: str) -> str:
    return f"{role}@{process_name()}"


def owner_of(process: str) -> Owner | None:
    """`host.pid` → Owner; None for anything else."""
    name, _, pid = process.rpartition(".")
    return Owner(name, int(pid)) if name and pid.isdigit() else None


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


def left_by_dead_process(owner: Owner | None) -> bool:
    """True for what a process of this host left behind and can no longer finish itself.

    Another host's processes cannot be checked from here; this process is alive.
    """
    if owner is None or owner.host != host() or owner.pid == os.getpid():
        return False
    return not pid_alive(owner.pid)
