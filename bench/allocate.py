"""Version allocation on PostgreSQL: allocations/s with 1 and 8 processes, one asset and many.

Baseline, same run, same database: the bare SQL of a locked counter bump plus an insert,
one transaction each, from psycopg2 with no ORM, retries or jobs (what pgbench measures).
Run alone: `python -m bench.allocate`.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
import uuid
from typing import Any

import psycopg2

from bench.common import Figure, fresh_database, show

PER_RUN = 2000


def _axiomd_worker(url: str, count: int, same_asset: bool, go: Any, out: Any) -> None:
    from axiomd.catalog.db import make_engine
    from axiomd.catalog.versions import JobSpec, NewVersion, allocate_version
    from axiomd.store import version_relpath

    engine = make_engine(url, pool_size=1)
    jobs = [JobSpec("probe", "probe"), JobSpec("proxy_h264", "proxy"),
            JobSpec("thumbnail", "thumbnail")]
    tag = uuid.uuid4().hex[:6]
    requests = []
    for i in range(count):
        shot = "SH0010" if same_asset else f"SH{i:04d}"
        task = "comp" if same_asset else f"t{tag}"
        asset = f"TST_SQ010_{shot}_{task}"
        ident = {"show": "TST", "seq": "SQ010", "shot": shot, "task": task}
        requests.append(NewVersion(
            asset=asset, naming="shot", identity=ident,
            checksum=hashlib.sha256(f"{tag}-{i}".encode()).hexdigest(), size=1,
            original_name=f"{asset}.mov",
            store_path=lambda n, a=asset, s=shot, t=task: version_relpath(
                ["TST", "SQ010", s, t], n, f"{a}_v{n:03d}.mov")))
    engine.connect().close()
    go.wait()
    numbers = [allocate_version(engine, r, jobs, with_outbox=True).number for r in requests]
    out.put(numbers)


def _bare_worker(url: str, count: int, go: Any, out: Any) -> None:
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    go.wait()
    numbers = []
    for i in range(count):
        cur.execute("UPDATE bare_asset SET latest = latest + 1 WHERE id = 1 RETURNING latest")
        n = cur.fetchone()[0]
        cur.execute("INSERT INTO bare_version (asset_id, number, checksum) VALUES (1, %s, %s)",
                    (n, f"{i}"))
        conn.commit()
        numbers.append(n)
    out.put(numbers)


def _race(target: Any, args_for: Any, procs: int) -> tuple[float, list[int]]:
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args_for(i), go, out)) for i in range(procs)]
    for w in workers:
        w.start()
    time.sleep(3.0)  # let every process import and connect before the clock starts
    start = time.perf_counter()
    go.set()
    numbers = [n for _ in workers for n in out.get()]
    elapsed = time.perf_counter() - start
    for w in workers:
        w.join()
    return elapsed, numbers


def bare_sql_rate(url: str) -> float:
    """Locked counter bump + insert, one transaction each, 8 processes: what PostgreSQL
    itself does on this machine (the baseline of allocate and ingest)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bare_asset (id int PRIMARY KEY, latest int NOT NULL)")
        cur.execute("CREATE TABLE bare_version (id serial PRIMARY KEY, asset_id int, "
                    "number int, checksum text, UNIQUE (asset_id, number))")
        cur.execute("INSERT INTO bare_asset VALUES (1, 0)")
    elapsed, numbers = _race(_bare_worker, lambda i: (url, PER_RUN // 8), 8)
    rate = len(numbers) / elapsed
    show(Figure("bare locked update+insert, 8 procs", rate, "tx/s"))
    return rate


def run() -> list[Figure]:
    from axiomd.catalog import schema
    from axiomd.catalog.db import make_engine

    figures = []
    with fresh_database() as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        engine.dispose()
        bare_rate = bare_sql_rate(url)
        for procs in (1, 8):
            for same in (True, False):
                elapsed, numbers = _race(_axiomd_worker,
                                         lambda i, p=procs, s=same: (url, PER_RUN // p, s), procs)
                rate = len(numbers) / elapsed
                where = "one asset" if same else "distinct assets"
                dupes = len(numbers) - len(set(numbers)) if same else 0
                first = min(numbers)
                dense = sorted(numbers) == list(range(first, first + len(numbers)))
                figures.append(show(Figure(
                    f"allocate_version, {procs} proc(s), {where}", rate, "alloc/s",
                    baseline=bare_rate, baseline_name="bare SQL, 8 procs",
                    target="≥ 500 alloc/s (8 procs, one asset)" if procs == 8 and same else "",
                    note=(f"{len(numbers)} versions with 3 jobs + 3 outbox rows each; "
                          + (f"duplicates {dupes}, dense {dense}" if same else "")))))
    return figures


if __name__ == "__main__":
    run()
