"""A real `axiomd serve` on a free port over a fresh PostgreSQL catalog, and a client.

Each test gets its own database, store and server process; tokens for every role are
made through the catalog module the `axiomd token` command uses.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from axiomd.catalog import schema, tokens
from axiomd.catalog.db import make_engine
from tests.helpers import Daemon, wait_for

ROLES = ("viewer", "artist", "supervisor", "admin")
JOBS = '["probe", "proxy_h264", "thumbnail"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_clip(path: Path, seconds: float = 1.0, rate: int = 24, pattern: str = "testsrc2") -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{pattern}=size=320x240:rate={rate}", "-t", str(seconds),
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)],
                   check=True, timeout=60)
    return path


@dataclass
class Served:
    """The running server, its config and catalog, and a token per role."""

    url: str
    config: Path
    root: Path
    engine: Engine
    daemon: Daemon
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.root / "store"

    def client(self, role: str | None = "viewer", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, **{"timeout": 30, **kwargs})

    def get(self, path: str, role: str | None = "viewer", **kwargs: Any) -> httpx.Response:
        with self.client(role) as c:
            return c.get(path, **kwargs)

    def post(self, path: str, role: str | None = "viewer", **kwargs: Any) -> httpx.Response:
        with self.client(role) as c:
            return c.post(path, **kwargs)

    def upload(self, file: Path, name: str | None = None, role: str = "artist",
               note: str | None = None) -> httpx.Response:
        with open(file, "rb") as f:
            return self.post("/api/v1/uploads", role,
                             files={"file": (name or file.name, f, "application/octet-stream")},
                             data={"note": note} if note else None)

    def settled_upload(self, location: str, timeout: float = 30) -> dict[str, Any]:
        """Poll an upload until it is no longer pending."""
        state: dict[str, Any] = {}

        def done() -> bool:
            state.update(self.get(location).json())
            return state["status"] != "pending"

        wait_for(done, timeout, f"upload {location} to settle")
        return state


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so a fixture can see a failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def serve(pg_url: str, write_config: Callable[..., Path], daemons: Callable[..., Daemon],
          tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start `axiomd serve` (optionally with extra config); tokens for every role."""
    engines: list[Engine] = []
    made: dict[str, str] = {}  # a second start in one test keeps the first one's tokens

    def start(extra: str = "", env: dict[str, str] | None = None, **overrides: object) -> Served:
        port = free_port()
        config = write_config(pg_url, extra=f'\n[api]\nlisten = "127.0.0.1:{port}"\n' + extra,
                              **{"jobs": JOBS, **overrides})
        engine = make_engine(pg_url)
        engines.append(engine)
        schema.upgrade(engine)
        made.update(made or {role: tokens.create(engine, f"{role}-tok", role) for role in ROLES})
        daemon = daemons(config, "serve", env=env)
        served = Served(f"http://127.0.0.1:{port}", config, tmp_path, engine, daemon, dict(made))

        def up() -> bool:
            assert daemon.proc.poll() is None, daemon.log_path.read_text()
            try:
                return httpx.get(served.url + "/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 30, "axiomd serve to answer /healthz")
        return served

    yield start
    for engine in engines:
        engine.dispose()


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    return serve()
