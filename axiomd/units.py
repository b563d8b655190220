"""Rendering the systemd unit templates in `systemd/` with this installation's real paths."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from axiomd.config import Config
from axiomd.errors import ConfigError

TEMPLATES = Path(__file__).resolve().parent.parent / "systemd"
UNITS = ("axiomd-watcher.service", "axiomd-relay.service", "axiomd-worker@.service")


def writable_paths(config: Config) -> list[str]:
    """What the services must be able to write under ProtectSystem=strict."""
    paths = [config.store_root, *(root.path for root in config.watch.roots)]
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        paths.append(Path(url.database).parent)
    return sorted({str(p) for p in paths})


def render(template: str, config: Config, user: str, group: str) -> str:
    if config.path is None:
        raise ConfigError("install-units needs a config file (--config PATH) for the units to use")
    axiomd = shutil.which("axiomd") or f"{sys.executable} -m axiomd"
    values = {
        "@AXIOMD@": axiomd,
        "@CONFIG@": str(Path(config.path).resolve()),
        "@USER@": user,
        "@GROUP@": group,
        "@READWRITE@": " ".join(writable_paths(config)),
        "@STOP_TIMEOUT@": str(int(config.worker.shutdown_grace_seconds) + 30),
        "@DOCS@": str(TEMPLATES.parent),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def install(config: Config, dest: Path, user: str, group: str) -> list[Path]:
    if not TEMPLATES.is_dir():
        raise ConfigError(f"unit templates not found in {TEMPLATES}; install axiomd from its "
                          "source tree (pip install -e .)")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in UNITS:
        target = dest / name
        target.write_text(render((TEMPLATES / name).read_text(), config, user, group))
        written.append(target)
    return written
