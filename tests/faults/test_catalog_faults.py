"""PostgreSQL refusing connections while workers run: no job lost, none stuck, worker alive."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import job_t
from axiomd.catalog.versions import allocate_version
from axiomd.config import load_config
from axiomd.store import Store
from tests.helpers import NOOP, Daemon, new_version, noop_preset, wait_for
from tests.tcpproxy import TcpProxy


def test_worker_survives_a_catalog_outage_and_every_job_completes(
        write_config: Callable[..., Path], pg_url: str, daemons: Callable[..., Daemon]) -> None:
    proxy = TcpProxy(5432)
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    config = write_config(via_proxy, extra=noop_preset(sleep=0.3), jobs='["noop"]', lease=3)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    store = Store(load_config(config).store_root)
    for _ in range(20):
        version = allocate_version(engine, new_version(), NOOP, with_outbox=False)
        store.path(version.store_path).parent.mkdir(parents=True, exist_ok=True)
        store.path(version.store_path).write_text("x")

    def states() -> list[str]:
        with engine.connect() as conn:
            return list(conn.execute(select(job_t.c.status)).scalars())

    worker = daemons(config, "worker")
    wait_for(lambda: states().count("done") >= 3, 30, "the first jobs")
    proxy.cut()
    time.sleep(3)
    proxy.restore()
    wait_for(lambda: states() == ["done"] * 20, 90, "every job done after the outage")
    assert worker.proc.poll() is None
    assert any(e.get("event") in ("service.unavailable", "job.crashed")
               for e in worker.events())
    engine.dispose()
