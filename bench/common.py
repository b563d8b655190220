"""What every benchmark needs: a fresh database, a fresh vhost, a results table."""

from __future__ import annotations

import os
import platform
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2

PG_ADMIN = os.environ.get("AXIOMD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("AXIOMD_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")


@dataclass
class Figure:
    benchmark: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    def line(self) -> str:
        ratio = f"{self.ratio:.2f}" if self.ratio is not None else "-"
        base = f"{self.baseline:,.1f} ({self.baseline_name})" if self.baseline else "-"
        return (f"| {self.benchmark} | {self.value:,.1f} {self.unit} | {base} | {ratio} | "
                f"{self.target} | {self.note} |")


def show(figure: Figure) -> Figure:
    ratio = f"  ratio {figure.ratio:.2f} vs {figure.baseline_name}" if figure.ratio else ""
    print(f"{figure.benchmark}: {figure.value:,.1f} {figure.unit}{ratio}  {figure.note}",
          flush=True)
    return figure


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"axb_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def fresh_vhost() -> Iterator[str]:
    vhost = f"axb-{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*",
                    ".*"], check=True)
    try:
        yield f"{AMQP_BASE}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), cpu)
    except OSError:
        model = cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


@contextmanager
def row_counter(url: str, sql: str) -> Iterator[Callable[[], int]]:
    """Poll a count over one open connection: a new connection per poll would start a
    PostgreSQL backend each time and tax the very figure being measured."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            def count() -> int:
                cur.execute(sql)
                return int(cur.fetchone()[0])

            yield count
    finally:
        conn.close()
