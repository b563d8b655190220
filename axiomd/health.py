"""`axiomd status`: is the pipeline healthy, in one look, for people and for monitoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from axiomd.broker import CONNECTION_ERRORS, Topology, connect
from axiomd.catalog import jobs
from axiomd.catalog.db import ping, redact
from axiomd.catalog.models import heartbeat_t, job_t, outbox_t, utcnow
from axiomd.config import Config
from axiomd.errors import AxiomdError

STALE_HEARTBEAT_SECONDS = 60.0
OUTBOX_MAX_AGE_SECONDS = 300.0


@dataclass
class Health:
    database: dict[str, Any] = field(default_factory=dict)
    broker: dict[str, Any] = field(default_factory=dict)
    outbox: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    failed_last_hour: int = 0
    processes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy, "problems": self.problems, "database": self.database,
            "broker": self.broker, "outbox": self.outbox, "jobs": self.jobs,
            "failed_last_hour": self.failed_last_hour, "processes": self.processes,
        }


def check(config: Config, engine: Any) -> Health:
    health = Health()
    url = redact(config.database_url)
    try:
        ping(engine)
        health.database = {"url": url, "reachable": True}
    except AxiomdError as exc:
        health.database = {"url": url, "reachable": False, "error": str(exc)}
        health.problems.append(f"catalog database unreachable: {exc}")
    if health.database["reachable"]:
        _catalog_figures(config, engine, health)
    _broker_figures(config, health)
    return health


def _catalog_figures(config: Config, engine: Any, health: Health) -> None:
    now = utcnow()
    health.jobs = jobs.job_counts(engine)
    with engine.connect() as conn:
        backlog, oldest = conn.execute(
            select(func.count(), func.min(outbox_t.c.created_at)).where(outbox_t.c.sent_at.is_(None))
        ).one()
        health.failed_last_hour = conn.execute(
            select(func.count()).select_from(job_t).where(
                job_t.c.status == "failed", job_t.c.finished_at >= now - timedelta(hours=1))
        ).scalar_one()
        beats = conn.execute(select(heartbeat_t).order_by(heartbeat_t.c.role,
                                                          heartbeat_t.c.process)).all()
    age = (now - oldest).total_seconds() if oldest else 0.0
    health.outbox = {"backlog": backlog, "oldest_age_seconds": round(age, 1)}
    if not config.broker.embedded and age > OUTBOX_MAX_AGE_SECONDS:
        health.problems.append(f"outbox has {backlog} unsent messages, oldest {age:.0f} s old: "
                               "is `axiomd relay` running?")
    for beat in beats:
        seen = (now - beat.seen_at).total_seconds()
        stale = seen > STALE_HEARTBEAT_SECONDS
        health.processes.append({"process": beat.process, "role": beat.role, "host": beat.host,
                                 "age_seconds": round(seen, 1), "stale": stale})
        if stale:
            health.problems.append(f"{beat.role} {beat.process} silent for {seen:.0f} s "
                                   "(crashed, or hung?)")


def _broker_figures(config: Config, health: Health) -> None:
    if config.broker.embedded:
        health.broker = {"mode": "embedded"}
        return
    url = redact(config.broker.url)
    try:
        connection = connect(config.broker.url)
    except AxiomdError as exc:
        health.broker = {"url": url, "reachable": False, "error": str(exc)}
        health.problems.append(f"broker unreachable: {exc}")
        return
    topology = Topology(config.broker.prefix)
    depths: dict[str, int | None] = {}
    try:
        channel = connection.channel()
        for kind in [*config.transcode.kinds, "dead"]:
            name = topology.dead if kind == "dead" else topology.work_queue(kind)
            try:
                depths[name] = channel.queue_declare(name, passive=True).method.message_count
            except CONNECTION_ERRORS:
                depths[name] = None
                channel = connection.channel()
        connection.close()
    except CONNECTION_ERRORS:
        pass
    health.broker = {"url": url, "reachable": True, "queues": depths}

