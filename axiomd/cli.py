"""The `axiomd` command line. Exit codes: 0 ok, 1 rejected or failed input, 2 usage/config."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from axiomd import app as wiring
from axiomd import health
from axiomd.api import Catalog
from axiomd.app import App, open_app
from axiomd.catalog import jobs, schema
from axiomd.catalog.db import make_url_is_sqlite, reachable, redact, scrub
from axiomd.catalog.versions import (
    LineageNode,
    VersionInfo,
    get_version,
    lineage,
    list_assets,
)
from axiomd.daemon import Shutdown, run_service
from axiomd.errors import (
    AxiomdError,
    CatalogUnavailable,
    ConfigError,
    NotFound,
    StoreError,
)
from axiomd.log import configure_logging
from axiomd.review import ACTIONS as REVIEW_ACTIONS
from axiomd.versioning import parse_label

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        app = open_app(args.config)
    except ConfigError as exc:
        print(f"axiomd: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(service=f"axiomd-{args.command}", fmt=app.config.logging.format,
                      level=app.config.logging.level, stream=_log_stream(args.command))
    try:
        return int(args.handler(app, args))
    except ConfigError as exc:
        print(f"axiomd: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (NotFound, StoreError, CatalogUnavailable, AxiomdError) as exc:
        print(f"axiomd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except DBAPIError as exc:  # one line, passwords out: never a traceback with a URL in it
        first = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"axiomd: catalog database {redact(app.config.database_url)}: "
              f"{scrub(first, app.config.database_url)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    finally:
        app.close()


def _log_stream(command: str) -> Any:
    """Daemons log to stdout (journald); one-shot commands keep stdout for their output."""
    return sys.stdout if command in DAEMONS else sys.stderr


DAEMONS = {"run", "watch", "worker", "relay", "serve"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axiomd", description="Watch-folder media pipeline: drop folders to versions."
    )
    parser.add_argument("--config", help="config file (default: $AXIOMD_CONFIG, "
                        "./config/axiomd.toml, /etc/axiomd/axiomd.toml, else built-in defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Callable[[App, argparse.Namespace], int], help: str
                ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    db = sub.add_parser("db", help="catalog schema").add_subparsers(dest="db_command")
    db.add_parser("upgrade", help="create or upgrade the catalog schema (idempotent)"
                  ).set_defaults(handler=cmd_db_upgrade)
    db.add_parser("current", help="show the schema revision").set_defaults(handler=cmd_db_current)

    p = command("ingest", cmd_ingest, "validate, store and version one file by hand")
    p.add_argument("file", type=Path)
    p.add_argument("--root", help="drop root whose naming rule applies")
    p.add_argument("--note", help="publish note stored on the version")
    p.add_argument("--user", help="who it is published for (default: the file's owner)")
    p.add_argument("--json", action="store_true")

    p = command("assets", cmd_assets, "list assets")
    p.add_argument("--json", action="store_true")

    p = command("versions", cmd_versions, "list an asset's versions")
    p.add_argument("asset")
    p.add_argument("--review", metavar="STATE",
                   help="only versions in this review state (approved, rejected, cbb, …)")
    p.add_argument("--json", action="store_true")

    p = command("show", cmd_show, "one version in detail, with its technical metadata")
    p.add_argument("asset")
    p.add_argument("version", help="label such as v003")
    p.add_argument("--json", action="store_true")

    p = command("lineage", cmd_lineage, "an asset's versions as a tree of what came from what")
    p.add_argument("asset")
    p.add_argument("--json", action="store_true")

    p = command("derive", cmd_derive,
                "new version with an old version's content (rollback); nothing is deleted")
    p.add_argument("asset")
    p.add_argument("--from", dest="source", required=True, help="label such as v002")
    p.add_argument("--json", action="store_true")

    p = command("review", cmd_review, "set a complete version's review state "
                "(approve, reject, cbb, deprecate, pending)")
    p.add_argument("asset")
    p.add_argument("version", help="label such as v003")
    p.add_argument("action", choices=list(REVIEW_ACTIONS))
    p.add_argument("--note", help="why, kept in the review history")
    p.add_argument("--by", help="who reviews (default: you)")
    p.add_argument("--json", action="store_true")

    p = command("note", cmd_note, "add a note to a version")
    p.add_argument("asset")
    p.add_argument("version", help="label such as v003")
    p.add_argument("text")
    p.add_argument("--by", help="who writes (default: you)")
    p.add_argument("--json", action="store_true")

    p = command("notes", cmd_notes, "notes and review changes of an asset or one version")
    p.add_argument("asset")
    p.add_argument("version", nargs="?", help="label such as v003 (default: all)")
    p.add_argument("--json", action="store_true")

    p = command("latest", cmd_latest, "store path of the newest complete version "
                "(what a DCC loader opens)")
    p.add_argument("asset")
    p.add_argument("--approved", action="store_true", help="the newest approved one")
    p.add_argument("--json", action="store_true")

    p = command("events", cmd_events, "version events from the catalog (docs/events.md)")
    p.add_argument("--follow", action="store_true", help="keep printing new events")
    p.add_argument("--after", type=int, default=0, metavar="ID",
                   help="only events after this id (with --follow and no --after: new ones)")
    p.add_argument("--asset", help="only this asset's events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = command("jobs", cmd_jobs, "list jobs, newest first")
    p.add_argument("--status", choices=["queued", "running", "done", "failed"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")

    p = command("retry", cmd_retry, "put failed jobs back in the queue")
    p.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID")
    p.add_argument("--failed", action="store_true", help="every failed job")

    p = command("verify", cmd_verify, "hash the stored versions again and compare with the "
                "catalog; exit 1 on any mismatch")
    p.add_argument("asset", nargs="?", help="only this asset's versions")
    p.add_argument("--json", action="store_true")

    p = command("status", cmd_status, "health: catalog, broker, backlog, jobs, daemons; "
                "exit 1 when unhealthy")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--format", choices=["text", "json", "prometheus"], default="text",
                   help="prometheus: metrics text (exit 0 when written; health is axiomd_healthy)")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="write to FILE atomically (write beside it, then rename)")

    p = command("hosts", cmd_hosts, "hosts with daemons' heartbeats; `hosts forget HOST` "
                "retires a host so status stops waiting for it")
    p.add_argument("action", nargs="?", choices=["forget"])
    p.add_argument("host", nargs="?")
    p.add_argument("--json", action="store_true")

    command("watch", cmd_watch, "watch the drop folders and ingest settled files")
    p = command("worker", cmd_worker, "run jobs (from RabbitMQ, or the catalog when embedded)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="worker processes to start (one job each); default 1")
    command("relay", cmd_relay, "publish the catalog outbox to RabbitMQ")
    command("run", cmd_run, "everything on one machine: watcher, relay (with a broker) "
            "and [worker] concurrency workers")

    from axiomd.web.commands import register as web_commands

    web_commands(command, sub)
    p = command("install-units", cmd_install_units,
                "write the systemd units for this config (then: systemctl daemon-reload)")
    p.add_argument("--dest", type=Path, default=Path("/etc/systemd/system"))
    p.add_argument("--user", default="axiomd")
    p.add_argument("--group", default="axiomd")
    return parser


def _require_schema(app: App) -> None:
    with reachable(app.engine):
        if schema.current_revision(app.engine) is None:
            raise ConfigError(
                f"catalog {redact(app.config.database_url)} has no schema yet; "
                "run `axiomd db upgrade`"
            )


def cmd_db_upgrade(app: App, args: argparse.Namespace) -> int:
    before, after = schema.upgrade(app.engine)
    if before == after:
        print(f"catalog schema already at {after} ({redact(app.config.database_url)})")
    else:
        print(f"catalog schema upgraded {before or 'empty'} -> {after} "
              f"({redact(app.config.database_url)})")
    return EXIT_OK


def cmd_db_current(app: App, args: argparse.Namespace) -> int:
    current = schema.current_revision(app.engine)
    head = schema.head_revision()
    print(f"{current or 'empty'} (newest: {head})")
    return EXIT_OK if current == head else EXIT_FAILED


def cmd_ingest(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    source: Path = args.file
    if not source.is_file():
        print(f"axiomd: {source} is not a file", file=sys.stderr)
        return EXIT_FAILED
    rule = app.ingestor.rule_for_path(source, args.root)
    app.ingestor.recover_staged()  # an earlier run the store refused after its commit
    outcome = app.ingestor.ingest(source, rule, link=False, note=args.note, user=args.user)
    if args.json:
        print(json.dumps({
            "status": outcome.status,
            "file": outcome.file,
            "reason": outcome.reason or None,
            "duplicate_of": outcome.duplicate_of,
            "version": outcome.version.to_json() if outcome.version else None,
        }, indent=2))
    elif outcome.version:
        v = outcome.version
        print(f"{v.asset} {v.label}  {app.store.path(v.store_path)}")
    else:
        print(f"axiomd: {outcome.status}: {outcome.reason}", file=sys.stderr)
    return EXIT_OK if outcome.status == "accepted" else EXIT_FAILED


def cmd_assets(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    assets = list_assets(app.engine)
    if args.json:
        print(json.dumps([a.to_json() for a in assets], indent=2))
    else:
        print_table(["ASSET", "LATEST", "VERSIONS", "CREATED"],
                    [[a.name, a.to_json()["latest"] or "-", str(a.latest_number),
                      _ts(a.created_at)] for a in assets])
    return EXIT_OK


def cmd_versions(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    versions = Catalog(app).versions(args.asset, review=args.review)
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=2))
    else:
        print_table(["VERSION", "STATUS", "REVIEW", "QC", "PARENT", "SIZE", "CHECKSUM",
                     "CREATED", "FILE"],
                    [[v.label, v.status, v.review or "-", _qc(v), v.parent or "-", _size(v.size),
                      v.checksum[:12], _ts(v.created_at), v.store_path] for v in versions])
    return EXIT_OK


def _qc(version: VersionInfo) -> str:
    qc = (version.media or {}).get("qc")
    if not qc:
        return "-"
    return f"{len(qc['warnings'])} warning(s)" if qc["warnings"] else "ok"


def cmd_show(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    v = get_version(app.engine, args.asset, _label(args.version))
    if args.json:
        print(json.dumps(v.to_json(), indent=2))
        return EXIT_OK
    rows = [
        ("asset", v.asset), ("version", v.label), ("status", v.status),
        ("parent", v.parent or "-"), ("review", v.review or "-"),
        ("file", str(app.store.path(v.store_path))),
        ("original name", v.original_name), ("size", _size(v.size)),
        ("sha256", v.checksum), ("submitted by", v.submitted_by or "-"),
        ("note", v.note or "-"),
        ("from", f"{v.origin_host}:{v.origin_path}"), ("created", _ts(v.created_at)),
        ("completed", _ts(v.completed_at) if v.completed_at else "-"),
    ]
    if v.error:
        rows.append(("error", v.error))
    for warning in (v.media or {}).get("qc", {}).get("warnings", []):
        rows.append(("QC warning", warning))
    for key, value in rows:
        print(f"{key:>14}  {value}")
    if v.media:
        print(f"{'media':>14}  {json.dumps(v.media, indent=2)}")
    return EXIT_OK


def cmd_lineage(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    roots = lineage(app.engine, args.asset)
    if args.json:
        print(json.dumps([_node_json(n) for n in roots], indent=2))
        return EXIT_OK
    print(args.asset)
    for line in render_tree(roots):
        print(line)
    return EXIT_OK


def _node_json(node: LineageNode) -> dict[str, Any]:
    return {**node.version.to_json(), "children": [_node_json(c) for c in node.children]}


def render_tree(roots: Sequence[LineageNode]) -> list[str]:
    """Text tree; a long straight chain stays flat instead of walking off the screen."""
    lines: list[str] = []
    stack: list[tuple[LineageNode, str]] = [(n, "") for n in reversed(roots)]
    while stack:
        node, indent = stack.pop()
        v = node.version
        lines.append(f"{indent}{v.label}  {v.status:<10} {v.checksum[:12]}  {_ts(v.created_at)}"
                     + (f"  (from {v.parent})" if v.parent and indent else ""))
        children = list(node.children)
        if len(children) == 1:
            stack.append((children[0], indent))
        else:
            stack.extend((c, indent + "    ") for c in reversed(children))
    return lines


def cmd_derive(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    version = app.ingestor.derive(args.asset, _label(args.source))
    if args.json:
        print(json.dumps(version.to_json(), indent=2))
    else:
        print(f"{version.asset} {version.label} (from {version.parent})  "
              f"{app.store.path(version.store_path)}")
    return EXIT_OK


def cmd_review(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    entry = Catalog(app).review(args.asset, args.version, args.action, args.by, args.note)
    if args.json:
        print(json.dumps(entry.to_json(), indent=2))
    else:
        print(f"{entry.asset} {entry.version}: {entry.from_state or '-'} -> {entry.to_state}"
              f" (by {entry.by})")
    return EXIT_OK


def cmd_note(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    entry = Catalog(app).note(args.asset, args.version, args.text, args.by)
    if args.json:
        print(json.dumps(entry.to_json(), indent=2))
    else:
        print(f"{entry.asset} {entry.version}: note by {entry.by} kept")
    return EXIT_OK


def cmd_notes(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    entries = Catalog(app).notes(args.asset, args.version)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return EXIT_OK
    print_table(["VERSION", "WHEN", "BY", "WHAT"],
                [[e.version, _ts(e.at), e.by,
                  (f"review {e.from_state or '-'} -> {e.to_state}" if e.kind == "review" else "")
                  + (": " if e.kind == "review" and e.text else "") + (e.text or "")]
                 for e in entries])
    return EXIT_OK


def cmd_latest(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    catalog = Catalog(app)
    version = catalog.latest(args.asset, approved=args.approved)
    if args.json:
        print(json.dumps({**version.to_json(), "path": str(catalog.path(version))}, indent=2))
    else:
        print(catalog.path(version))
    return EXIT_OK


def cmd_events(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    after = None if args.follow and not args.after else args.after
    try:
        for event in Catalog(app).events(after=after, follow=args.follow, asset=args.asset):
            if args.json:
                print(json.dumps(event), flush=True)
            else:
                print(f"{event['id']:>6}  {event['at'][:19]}  {event['event']:<17} "
                      f"{event['asset']} {event['version']}  {event['status']}"
                      f"/{event['review'] or '-'}  {event['by'] or '-'}"
                      + (f"  {event['note']}" if event.get("note") else ""), flush=True)
    except BrokenPipeError:  # `axiomd events | head`
        pass
    return EXIT_OK


def cmd_jobs(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    rows = jobs.list_jobs(app.engine, args.status, args.limit)
    if args.json:
        print(json.dumps([j.to_json() for j in rows], indent=2))
    else:
        print_table(["JOB", "ASSET", "VERSION", "PRESET", "STATUS", "TRIES", "ERROR"],
                    [[str(j.id), j.asset, j.version, j.preset, j.status, str(j.attempts),
                      (j.last_error or "")[:80]] for j in rows])
    return EXIT_OK


def cmd_retry(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    if not args.failed and not args.job_ids:
        print("axiomd: name job ids, or --failed for every failed job", file=sys.stderr)
        return EXIT_USAGE
    ids = jobs.retry_failed(app.engine, None if args.failed else args.job_ids,
                            with_outbox=not app.config.broker.embedded)
    missing = sorted(set(args.job_ids) - set(ids))
    if ids:
        print(f"requeued {len(ids)} job(s): {', '.join(map(str, ids))}")
    if missing:
        print(f"axiomd: not failed (or unknown), left alone: {', '.join(map(str, missing))}",
              file=sys.stderr)
        return EXIT_FAILED
    if not ids:
        print("no failed jobs")
    return EXIT_OK


def cmd_status(app: App, args: argparse.Namespace) -> int:
    fmt = "json" if args.json else args.format
    if fmt == "text" and args.output:
        print("axiomd: --output needs --format json or prometheus", file=sys.stderr)
        return EXIT_USAGE
    report = health.check(app.config, app.engine)
    code = EXIT_OK if report.healthy else EXIT_FAILED
    if fmt == "text":
        _print_status(report)
        return code
    from axiomd.metrics import exposition, write_textfile

    if fmt == "prometheus":
        text, code = exposition(report), EXIT_OK  # the timer must not fail: health is a metric
    else:
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
        print(f"process   {proc['role']:<8} {proc['process']}  seen {proc['age_seconds']} s ago{flag}")
    for root, held in report.claimed.items():
        for process, files in sorted(held.items()):
            print(f"claimed   {root}: {files} file(s) held by {process}")
    for problem in report.problems:
        print(f"PROBLEM   {problem}")
    print("healthy" if report.healthy else "UNHEALTHY")


def cmd_hosts(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    if args.action == "forget":
        if not args.host:
            print("axiomd: name the host to forget: axiomd hosts forget HOST", file=sys.stderr)
            return EXIT_USAGE
        gone = health.forget_host(app.engine, args.host)
        if args.json:
            print(json.dumps({"host": args.host, "forgotten": gone}))
        elif gone:
            print(f"forgot {args.host}: {gone} heartbeat(s) removed")
        if not gone:
            if not args.json:
                print(f"axiomd: no heartbeats from host {args.host!r} (see `axiomd hosts`)",
                      file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    if args.host:
        print("axiomd: `axiomd hosts` lists; to retire a host: axiomd hosts forget HOST",
              file=sys.stderr)
        return EXIT_USAGE
    rows = health.hosts(app.engine, app.config.status)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(["HOST", "ROLES", "PROCESSES", "LAST SEEN (UTC)", "STALE"],
                    [[r["host"], ",".join(r["roles"]), str(r["processes"]),
                      r["last_seen"].replace("T", " ").removesuffix("Z"),
                      "STALE" if r["stale"] else "-"] for r in rows])
    return EXIT_OK


def _daemon(app: App) -> Shutdown:
    _require_schema(app)
    shutdown = Shutdown(app.config.worker.shutdown_grace_seconds)
    shutdown.install()
    return shutdown


def cmd_watch(app: App, args: argparse.Namespace) -> int:
    run_service(wiring.watcher(app, _daemon(app)))
    return EXIT_OK


def cmd_relay(app: App, args: argparse.Namespace) -> int:
    shutdown = _daemon(app)
    hooks = wiring.webhooks(app, shutdown)
    run_service(wiring.relay(app, shutdown))
    hooks.join(timeout=5)
    return EXIT_OK


def cmd_worker(app: App, args: argparse.Namespace) -> int:
    shutdown = _daemon(app)
    if args.concurrency > 1:
        wiring.worker_processes(app, shutdown, args.concurrency)
    else:
        run_service(wiring.worker(app, shutdown))
    return EXIT_OK


def cmd_run(app: App, args: argparse.Namespace) -> int:
    """The embedded default: one command, one machine, everything."""
    if make_url_is_sqlite(app.config.database_url):
        schema.upgrade(app.engine)
    wiring.run_everything(app, _daemon(app))
    return EXIT_OK


def cmd_install_units(app: App, args: argparse.Namespace) -> int:
    from axiomd.units import install

    for path in install(app.config, args.dest, args.user, args.group):
        print(f"wrote {path}")
    print("next: systemctl daemon-reload && systemctl enable --now axiomd.target axiomd-watcher "
          "axiomd-relay axiomd-worker@{1..4} axiomd-metrics.timer  (only the ones this host runs)")
    return EXIT_OK


def cmd_verify(app: App, args: argparse.Namespace) -> int:
    from axiomd.verify import verify

    _require_schema(app)
    checked, bad = 0, []
    for _version, mismatch in verify(app.engine, app.store, args.asset):
        checked += 1
        if mismatch is not None:
            bad.append(mismatch)
            if not args.json:
                print(f"MISMATCH {mismatch}")
    if args.json:
        print(json.dumps({"checked": checked, "mismatches": [vars(m) for m in bad]}, indent=2))
    else:
        print(f"{checked} versions checked, {len(bad)} mismatched")
    return EXIT_FAILED if bad else EXIT_OK


def _label(text: str) -> int:
    try:
        return parse_label(text)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _ts(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


if __name__ == "__main__":
    sys.exit(main())
