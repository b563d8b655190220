"""Commands for operators: the schema, health, hosts, systemd units."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.db import redact
from axiomd.cli.common import Adder, require_schema
from axiomd.cli.output import EXIT_FAILED, EXIT_OK, print_json, print_table
from axiomd.errors import NotFound, UsageError

if TYPE_CHECKING:
    from axiomd import health


def register(add: Adder) -> None:
    p = add("db", cmd_db, "the catalog schema: `db upgrade` creates or upgrades it "
            "(idempotent, safe to run concurrently), `db current` shows its revision")
    p.add_argument("action", choices=["upgrade", "current"])

    p = add("status", cmd_status, "health: catalog, broker, backlog, jobs, daemons, claims; "
            "exit 1 when unhealthy")
    p.add_argument("--format", choices=["text", "json", "prometheus"], default="text",
                   help="prometheus: metrics text (exit 0 when written; health is axiomd_healthy)")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="write to FILE atomically (write beside it, then rename)")

    p = add("hosts", cmd_hosts, "hosts with daemons' heartbeats; `hosts forget HOST` "
            "retires a host so status stops waiting for it")
    p.add_argument("action", nargs="?", choices=["forget"])
    p.add_argument("host", nargs="?")

    p = add("install-units", cmd_install_units,
            "write the systemd units for this config (then: systemctl daemon-reload)")
    p.add_argument("--dest", type=Path, default=Path("/etc/systemd/system"))
    p.add_argument("--user", default="axiomd")
    p.add_argument("--group", default="axiomd")


def cmd_db(app: App, args: argparse.Namespace) -> int:
    return cmd_db_upgrade(app, args) if args.action == "upgrade" else cmd_db_current(app, args)


def cmd_db_upgrade(app: App, args: argparse.Namespace) -> int:
    before, after = schema.upgrade(app.engine)
    url = redact(app.config.database_url)
    if args.json:
        print_json({"catalog": url, "before": before, "after": after})
    elif before == after:
        print(f"catalog schema already at {after} ({url})")
    else:
        print(f"catalog schema upgraded {before or 'empty'} -> {after} ({url})")
    return EXIT_OK


def cmd_db_current(app: App, args: argparse.Namespace) -> int:
    current = schema.current_revision(app.engine)
    head = schema.head_revision()
    if args.json:
        print_json({"current": current, "newest": head, "up_to_date": current == head})
    else:
        print(f"{current or 'empty'} (newest: {head})")
    return EXIT_OK if current == head else EXIT_FAILED


def cmd_status(app: App, args: argparse.Namespace) -> int:
    fmt = "json" if args.json else args.format
    if fmt == "text" and args.output:
        raise UsageError("--output needs --format json or prometheus")
    from axiomd import health  # with pika, ~20 ms at start; only `status` and `hosts` need it

    report = health.check(app.config, app.engine)
    code = EXIT_OK if report.healthy else EXIT_FAILED
    if fmt == "text":
        _print_status(report)
        return code
    from axiomd.metrics import exposition, write_textfile

    if fmt == "prometheus":
        text, code = exposition(report), EXIT_OK  # the timer must not fail: health is a metric
    else:
        import json

        text = json.dumps(report.to_json(), indent=2) + "\n"
    if args.output:
        write_textfile(text, args.output)
    else:
        sys.stdout.write(text)
    return code


def _print_status(report: health.Health) -> None:
    db = report.database
    print(f"catalog   {db['url']}  {'ok' if db['reachable'] else 'UNREACHABLE'}")
    if report.broker.get("mode") == "embedded":
        print("broker    embedded (jobs claimed from the catalog)")
    else:
        state = "ok" if report.broker.get("reachable") else "UNREACHABLE"
        print(f"broker    {report.broker.get('url')}  {state}")
        for queue, facts in report.broker.get("queues", {}).items():
            shown = (f"{facts['messages']} ready, {facts['consumers']} consumer(s)"
                     if facts else "MISSING")
            print(f"  queue   {queue}: {shown}")
    if report.outbox:
        print(f"outbox    {report.outbox['backlog']} unsent, oldest "
              f"{report.outbox['oldest_age_seconds']} s")
    if report.jobs:
        print("jobs      " + ", ".join(f"{k} {v}" for k, v in report.jobs.items())
              + f" (failed in the last hour: {report.failed_last_hour})")
    if report.versions:
        print("versions  " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    for proc in report.processes:
        flag = "  STALE" if proc["stale"] else ""
        print(f"process   {proc['role']:<8} {proc['process']}  seen {proc['age_seconds']} s ago"
              f"{flag}")
    for root, held in report.claimed.items():
        for process, files in sorted(held.items()):
            print(f"claimed   {root}: {files} file(s) held by {process}")
    for problem in report.problems:
        print(f"PROBLEM   {problem}")
    print("healthy" if report.healthy else "UNHEALTHY")


def cmd_hosts(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    from axiomd import health

    if args.action == "forget":
        if not args.host:
            raise UsageError("name the host to forget: axiomd hosts forget HOST")
        gone = health.forget_host(app.engine, args.host)
        if not gone:
            raise NotFound(f"no heartbeats from host {args.host!r} (see `axiomd hosts`)")
        if args.json:
            print_json({"host": args.host, "forgotten": gone})
        else:
            print(f"forgot {args.host}: {gone} heartbeat(s) removed")
        return EXIT_OK
    if args.host:
        raise UsageError("`axiomd hosts` lists; to retire a host: axiomd hosts forget HOST")
    rows = health.hosts(app.engine, app.config.status)
    if args.json:
        print_json(rows)
    else:
        print_table(["HOST", "ROLES", "PROCESSES", "LAST SEEN (UTC)", "STALE"],
                    [[r["host"], ",".join(r["roles"]), str(r["processes"]),
                      r["last_seen"].replace("T", " ").removesuffix("Z")[:19],
                      "STALE" if r["stale"] else "-"] for r in rows])
    return EXIT_OK


def cmd_install_units(app: App, args: argparse.Namespace) -> int:
    from axiomd.units import install

    written = install(app.config, args.dest, args.user, args.group)
    if args.json:
        print_json({"written": [str(p) for p in written]})
        return EXIT_OK
    for path in written:
        print(f"wrote {path}")
    print("next: systemctl daemon-reload && systemctl enable --now axiomd.target axiomd-watcher "
          "axiomd-relay axiomd-worker@{1..4} axiomd-metrics.timer  (only the ones this host runs)")
    return EXIT_OK
