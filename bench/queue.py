"""Jobs through outbox → RabbitMQ → worker (no-op jobs), with 1 and 4 workers.

The relay and the workers are running and connected before the clock starts, as they are
in production; the clock starts when the jobs' outbox rows are written (one statement)
and stops when the last job is done in the catalog.

Baseline, same run, same broker, same message count: raw pika, one publisher with
per-message confirms and one consumer with prefetch 1 acking each message, running
together. Run alone: `python -m bench.queue`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pika

from bench.common import Figure, fresh_database, fresh_vhost, row_counter, show

COUNT = 4000
CONFIG = """
[database]
url = "{db}"
[broker]
url = "{amqp}"
prefix = "bench"
[store]
root = "store"
[transcode]
jobs = ["noop"]
[transcode.presets.noop]
kind = "noop"
[logging]
format = "json"
level = "warning"
"""


def raw_pika(amqp: str) -> float:
    params = pika.URLParameters(amqp)
    setup = pika.BlockingConnection(params)
    setup.channel().queue_declare("raw", durable=True)
    setup.close()
    body = json.dumps({"schema": 1, "job_id": 1, "version_id": 1, "preset": "noop",
                       "kind": "noop", "source": "x", "checksum": "0" * 64}).encode()
    consumed = threading.Event()

    def consume() -> None:
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1)
        for n, (method, _, _) in enumerate(ch.consume("raw"), start=1):
            ch.basic_ack(method.delivery_tag)
            if n == COUNT:
                break
        conn.close()
        consumed.set()

    consumer = threading.Thread(target=consume)
    start = time.perf_counter()
    consumer.start()
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.confirm_delivery()
    for _ in range(COUNT):
        ch.basic_publish("", "raw", body, properties=pika.BasicProperties(delivery_mode=2))
    conn.close()
    consumed.wait()
    return COUNT / (time.perf_counter() - start)


def axiomd_queue(db: str, amqp: str, workers: int) -> float:
    from sqlalchemy import select

    from axiomd.catalog import schema
    from axiomd.catalog.db import make_engine
    from axiomd.catalog.models import job_t, utcnow
    from axiomd.catalog.outbox import enqueue
    from axiomd.catalog.versions import JobSpec, NewVersion, allocate_version
    from axiomd.store import Store

    with tempfile.TemporaryDirectory(prefix="axb-queue-") as tmp:
        config = Path(tmp) / "axiomd.toml"
        config.write_text(CONFIG.format(db=db, amqp=amqp))
        engine = make_engine(db)
        schema.upgrade(engine)
        store = Store(Path(tmp) / "store")
        source = store.path("TST/x.mov")
        source.parent.mkdir(parents=True)
        source.write_text("x")
        for i in range(COUNT):
            allocate_version(engine, NewVersion(
                asset=f"TST_SQ010_SH{i:04d}_q{workers}", naming="shot",
                identity={"show": "TST"}, checksum=f"{i:064d}", size=1, original_name="x.mov",
                store_path=lambda n: "TST/x.mov"), [JobSpec("noop", "noop")], with_outbox=False)
        cmd = [sys.executable, "-m", "axiomd", "--config", str(config)]
        procs = [subprocess.Popen([*cmd, role]) for role in ["relay"] + ["worker"] * workers]
        time.sleep(3)  # relay and workers connected and waiting before the clock starts
        start = time.perf_counter()
        with engine.begin() as conn:
            enqueue(conn, utcnow(), job_ids=list(conn.execute(select(job_t.c.id)).scalars()))
        engine.dispose()
        with row_counter(db, "SELECT count(*) FROM job WHERE status = 'done'") as done:
            while done() < COUNT:
                time.sleep(0.05)
        elapsed = time.perf_counter() - start
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        return COUNT / elapsed


def run() -> list[Figure]:
    figures = []
    with fresh_vhost() as amqp:
        baseline = raw_pika(amqp)
        show(Figure("raw pika publish(confirm)+consume(prefetch 1)", baseline, "msg/s"))
        for workers in (1, 4):
            with fresh_database() as db:
                rate = axiomd_queue(db, amqp, workers)
            figures.append(show(Figure(
                f"no-op jobs through outbox → RabbitMQ → {workers} worker(s)", rate, "jobs/s",
                baseline=baseline, baseline_name="raw pika, same messages",
                target="≥ 0.5 x baseline with 4 workers" if workers == 4 else "",
                note=f"{COUNT} jobs, each claimed and completed in PostgreSQL")))
    return figures


if __name__ == "__main__":
    run()
