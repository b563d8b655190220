"""`axiomd status --format prometheus`: the same facts as `status`, as Prometheus text.

Meant for node_exporter's textfile collector, fed by `axiomd-metrics.timer`; the file is
written beside its final name and renamed over it, so the collector never reads half.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from axiomd.health import Health


def registry(health: Health) -> CollectorRegistry:
    """Every figure of `health` as a gauge; labels name the state, queue or process."""
    reg = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"axiomd_{name}", doc, labels, registry=reg)

    gauge("healthy", "1 when `axiomd status` finds no problem, else 0").set(int(health.healthy))
    gauge("problems", "How many problems `axiomd status` names").set(len(health.problems))
    gauge("catalog_up", "1 when the catalog database answers").set(
        int(bool(health.database.get("reachable"))))
    jobs = gauge("jobs", "Jobs in the catalog by state", ("state",))
    for state, count in health.jobs.items():
        jobs.labels(state).set(count)
    versions = gauge("versions", "Versions in the catalog by state", ("state",))
    for state, count in health.versions.items():
        versions.labels(state).set(count)
    gauge("jobs_failed_last_hour", "Jobs that failed for good in the last hour").set(
        health.failed_last_hour)
    if health.outbox:
        gauge("outbox_backlog", "Outbox messages not yet published").set(health.outbox["backlog"])
        gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished outbox message").set(
            health.outbox["oldest_age_seconds"])
    if health.broker.get("mode") != "embedded":
        gauge("broker_up", "1 when RabbitMQ answers").set(int(bool(health.broker.get("reachable"))))
        present = gauge("queue_present", "1 when the queue exists", ("queue", "kind"))
        depth = gauge("queue_messages", "Messages ready in the queue", ("queue", "kind"))
        consumers = gauge("queue_consumers", "Consumers on the queue", ("queue", "kind"))
        for name, queue in health.broker.get("queues", {}).items():
            kind = queue["kind"] if queue else name.rsplit(".", 1)[-1]
            present.labels(name, kind).set(int(queue is not None))
            if queue is not None:
                depth.labels(name, kind).set(queue["messages"])
                consumers.labels(name, kind).set(queue["consumers"])
    age = gauge("heartbeat_age_seconds", "Seconds since each daemon's last heartbeat",
                ("process", "role", "host"))
    stale = gauge("heartbeat_stale", "1 when the daemon's heartbeat is stale",
                  ("process", "role", "host"))
    for proc in health.processes:
        labels = (proc["process"], proc["role"], proc["host"])
        age.labels(*labels).set(proc["age_seconds"])
        stale.labels(*labels).set(int(proc["stale"]))
    return reg


def exposition(health: Health) -> str:
    return generate_latest(registry(health)).decode()


def write_textfile(text: str, path: Path) -> None:
    """Write beside `path`, then rename over it; readable by node_exporter's user."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
