"""Rendering the systemd unit templates (package data in `axiomd/systemd_units/`) with
this installation's real paths; they ship inside the wheel, so any install can write them.

Every service gets the same hardening (`HARDENING`), which `systemd-analyze security`
rates ≤ 4.0 (tests/test_units.py). Each line was checked against what axiomd really does:
ffmpeg (x264, AAC, MJPEG) and Python run under W^X (MemoryDenyWriteExecute, checked with
the kernel's PR_SET_MDWE) and without /proc beyond their own pid (ProcSubset=pid: ffmpeg
counts CPUs through sched_getaffinity and /sys, the watcher reads only /proc/self), and
a whole pipeline run (watcher, worker, ffprobe, an x264 proxy, a thumbnail) makes only
system calls in @system-service (strace). `~@privileged @resources` is not added: SQLite
may fchown its journal and ffmpeg calls set_mempolicy.
"""

from __future__ import annotations

import shutil
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from sqlalchemy.engine import make_url

from axiomd.config import Config
from axiomd.errors import ConfigError

TEMPLATES: Traversable = files("axiomd") / "systemd_units"
UNITS = ("axiomd.target", "axiomd-watcher.service", "axiomd-relay.service",
         "axiomd-worker@.service", "axiomd-api.service", "axiomd-metrics.service",
         "axiomd-metrics.timer")
TEXTFILE_NAME = "axiomd.prom"

HARDENING = """\
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM"""


def writable_paths(config: Config) -> list[str]:
    """What the services must be able to write under ProtectSystem=strict."""
    paths = [config.store_root, *(root.path for root in config.watch.roots)]
    catalog = catalog_dir(config)
    if catalog:
        paths.append(Path(catalog))
    return sorted({str(p) for p in paths})


def catalog_dir(config: Config) -> str | None:
    """A SQLite catalog's folder (SQLite writes beside the file), else None."""
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return str(Path(url.database).parent)
    return None


def _documentation() -> str:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    return f"Documentation=file://{readme}" if readme.is_file() else ""


def render(template: str, config: Config, user: str, group: str) -> str:
    if config.path is None:
        raise ConfigError("install-units needs a config file (--config PATH) for the units to use")
    axiomd = shutil.which("axiomd") or f"{sys.executable} -m axiomd"
    catalog = catalog_dir(config)
    values = {
        "@HARDENING@": HARDENING,
        "@DOCUMENTATION@": _documentation(),
        "@AXIOMD@": axiomd,
        "@CONFIG@": str(Path(config.path).resolve()),
        "@USER@": user,
        "@GROUP@": group,
        "@READWRITE@": " ".join(writable_paths(config)),
        "@MOUNTS@": " ".join(writable_paths(config)),
        "@CATALOG_RW@": f"{catalog} " if catalog else "",
        "@TEXTFILE_DIR@": str(config.status.textfile_dir),
        "@TEXTFILE@": str(config.status.textfile_dir / TEXTFILE_NAME),
        "@STOP_TIMEOUT@": str(int(config.worker.shutdown_grace_seconds) + 30),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def install(config: Config, dest: Path, user: str, group: str) -> list[Path]:
    if not TEMPLATES.is_dir():
        raise ConfigError(f"unit templates not found in {TEMPLATES}: this axiomd install is "
                          "incomplete; reinstall it (pip install axiomd)")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in UNITS:
        target = dest / name
        target.write_text(render((TEMPLATES / name).read_text(), config, user, group))
        written.append(target)
    return written
