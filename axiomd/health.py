"""`axiomd status`: is the pipeline healthy, in one look, for people and for monitoring.

Facts are gathered at the edges (the catalog's figures, a passive look at the broker's
queues); `judge` turns them into the problems an operator must act on, each naming its
cause and what to do. Limits come from `[status]` in the config.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pika.exceptions

from axiomd.broker import CONNECTION_ERRORS, Topology, connect
from axiomd.catalog import health as catalog_health
from axiomd.catalog import heartbeats, schema
from axiomd.catalog.db import ping, redact
from axiomd.catalog.models import utcnow
from axiomd.config import Config, StatusSettings
from axiomd.errors import AxiomdError
from axiomd.timestamps import iso_z
from axiomd.watcher.claims import claimed_by_process

NOT_FOUND = 404


@dataclass
class Health:
    """What `status` found; `problems` is empty exactly when the pipeline is healthy."""

    database: dict[str, Any] = field(default_factory=dict)
    broker: dict[str, Any] = field(default_factory=dict)
    outbox: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    failed_last_hour: int = 0
    processes: list[dict[str, Any]] = field(default_factory=list)
    claimed: dict[str, dict[str, int]] = field(default_factory=dict)  # root -> process -> files
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy, "problems": self.problems, "database": self.database,
            "broker": self.broker, "outbox": self.outbox, "jobs": self.jobs,
            "versions": self.versions, "failed_last_hour": self.failed_last_hour,
            "processes": self.processes, "claimed": self.claimed,
        }


def check(config: Config, engine: Any, now: datetime | None = None) -> Health:
    now = now or utcnow()
    health = Health()
    url = redact(config.database_url)
    try:
        ping(engine)
        health.database = {"url": url, "reachable": True}
    except AxiomdError as exc:
        health.database = {"url": url, "reachable": False, "error": str(exc)}
    if health.database["reachable"]:
        current, newest = schema.current_revision(engine), schema.head_revision()
        health.database["schema"] = current
        if current == newest:
            _catalog_facts(config.status, engine, health, now)
        else:
            health.database["schema_needed"] = newest
    health.broker = broker_facts(config)
    health.claimed = {root.name: held for root in config.watch.roots
                      if (held := claimed_by_process(root.path))}
    health.problems = judge(health, config.status)
    return health


def _catalog_facts(limits: StatusSettings, engine: Any, health: Health, now: datetime) -> None:
    figures = catalog_health.figures(engine, now, limits.heartbeat_expire_seconds)
    health.jobs, health.versions = figures.jobs, figures.versions
    health.failed_last_hour = figures.failed_last_hour
    age = (now - figures.outbox_oldest).total_seconds() if figures.outbox_oldest else 0.0
    health.outbox = {"backlog": figures.outbox_backlog, "oldest_age_seconds": round(age, 1)}
    for beat in figures.heartbeats:
        seen = max(0.0, (now - beat.seen_at).total_seconds())
        health.processes.append({
            "process": beat.process, "role": beat.role, "host": beat.host,
            "seen_at": iso_z(beat.seen_at), "age_seconds": round(seen, 1),
            "stale": seen > limits.stale_heartbeat_seconds, "detail": beat.detail,
        })


def broker_facts(config: Config) -> dict[str, Any]:
    """Each work queue's depth and consumers by a passive declare; None = queue missing.

    The connection is closed on every path, and any error after connecting makes the
    broker unreachable: a half-finished look never passes for a healthy one.
    """
    if config.broker.embedded:
        return {"mode": "embedded"}
    url = redact(config.broker.url)
    try:
        connection = connect(config.broker.url)
    except AxiomdError as exc:
        return {"url": url, "reachable": False, "error": str(exc)}
    topology = Topology(config.broker.prefix)
    queues: dict[str, dict[str, Any] | None] = {}
    try:
        channel = connection.channel()
        for kind in [*config.transcode.kinds, "dead"]:
            name = topology.dead if kind == "dead" else topology.work_queue(kind)
            try:
                ok = channel.queue_declare(name, passive=True).method
                queues[name] = {"kind": kind, "messages": ok.message_count,
                                "consumers": ok.consumer_count}
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != NOT_FOUND:
                    raise
                queues[name] = None
                channel = connection.channel()
    except CONNECTION_ERRORS as exc:
        return {"url": url, "reachable": False,
                "error": f"{type(exc).__name__}: {exc}".rstrip(": ")}
    finally:
        with contextlib.suppress(*CONNECTION_ERRORS):
            if connection.is_open:
                connection.close()
    return {"url": url, "reachable": True, "queues": queues}


def judge(health: Health, limits: StatusSettings) -> list[str]:
    """The problems in these facts, worst first; each says what to look at."""
    problems: list[str] = []
    if not health.database.get("reachable"):
        problems.append(f"catalog database unreachable: {health.database.get('error')}")
    elif health.database.get("schema_needed"):
        problems.append(f"catalog schema is {health.database.get('schema') or 'missing'}, "
                        f"this axiomd needs {health.database['schema_needed']}: "
                        "run `axiomd db upgrade`")
    if health.broker and health.broker.get("mode") != "embedded":
        if not health.broker.get("reachable"):
            problems.append(f"broker unreachable: {health.broker.get('error')}")
        for name, queue in health.broker.get("queues", {}).items():
            if queue is None:
                problems.append(f"queue {name} is missing: start `axiomd worker` or "
                                "`axiomd relay`, which declare it")
            elif queue["kind"] != "dead" and queue["consumers"] == 0:
                problems.append(f"queue {name} has no consumer ({queue['messages']} message(s) "
                                "waiting): is `axiomd worker` running?")
    live = [p for p in health.processes if not p["stale"]]
    queued = health.jobs.get("queued", 0)
    if queued and not any(p["role"] == "worker" for p in live):
        problems.append(f"{queued} job(s) queued and no worker alive: start `axiomd worker` "
                        "(systemctl start 'axiomd-worker@*')")
    for proc in health.processes:
        if proc["stale"]:
            problems.append(f"{proc['role']} {proc['process']} silent for "
                            f"{proc['age_seconds']:.0f} s (crashed or hung?); if {proc['host']} "
                            f"was retired: `axiomd hosts forget {proc['host']}`")
    for proc in live:
        detail = proc.get("detail") or {}
        for root in detail.get("roots_missing", []):
            problems.append(f"drop root {root} is missing on {proc['process']}: "
                            "is the share mounted?")
        for root in detail.get("roots_polled", []):
            problems.append(f"drop root {root} is polled on {proc['process']} because inotify "
                            "ran out: raise fs.inotify.max_user_watches")
    age = health.outbox.get("oldest_age_seconds", 0.0)
    if age > limits.outbox_max_age_seconds:
        problems.append(f"outbox has {health.outbox['backlog']} unsent message(s), oldest "
                        f"{age:.0f} s old (limit {limits.outbox_max_age_seconds:.0f} s): "
                        "is `axiomd relay` running?")
    if health.failed_last_hour > limits.max_failures_last_hour:
        problems.append(f"{health.failed_last_hour} job(s) failed in the last hour (limit "
                        f"{limits.max_failures_last_hour}): see `axiomd jobs --status failed`")
    return problems


def hosts(engine: Any, limits: StatusSettings, now: datetime | None = None) -> list[dict[str, Any]]:
    """Hosts with unexpired heartbeats: their roles, newest beat, and whether any is stale."""
    now = now or utcnow()
    since = now - timedelta(seconds=limits.heartbeat_expire_seconds)
    heartbeats.expire(engine, since)
    by_host: dict[str, list[heartbeats.Heartbeat]] = {}
    for beat in heartbeats.recent(engine, since):
        by_host.setdefault(beat.host, []).append(beat)
    rows = []
    for host, beats in sorted(by_host.items()):
        newest = max(b.seen_at for b in beats)
        rows.append({
            "host": host, "roles": sorted({b.role for b in beats}), "processes": len(beats),
            "last_seen": newest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "age_seconds": round((now - newest).total_seconds(), 1),
            "stale": any((now - b.seen_at).total_seconds() > limits.stale_heartbeat_seconds
                         for b in beats),
        })
    return rows


def forget_host(engine: Any, host: str) -> int:
    """Retire `host` on purpose: its heartbeats go, and status stops waiting for it."""
    return heartbeats.forget_host(engine, host)
