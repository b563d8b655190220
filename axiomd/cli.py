"""The `axiomd` command line. Exit codes: 0 ok, 1 rejected or failed input, 2 usage/config."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from axiomd import health
from axiomd.app import App, open_app
from axiomd.catalog import jobs, schema
from axiomd.catalog.db import make_url_is_sqlite, reachable, redact
from axiomd.catalog.versions import (
    LineageNode,
    VersionInfo,
    get_version,
    lineage,
    list_assets,
    list_versions,
)
from axiomd.daemon import Shutdown
from axiomd.errors import (
    AxiomdError,
    CatalogUnavailable,
    ConfigError,
    NotFound,
    StoreError,
)
from axiomd.log import configure_logging
from axiomd.supervise import Children, axiomd_command
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
    except KeyboardInterrupt:
        return 130
    finally:
        app.close()


def _log_stream(command: str) -> Any:
    """Daemons log to stdout (journald); one-shot commands keep stdout for their output."""
    return sys.stdout if command in DAEMONS else sys.stderr


DAEMONS = {"run", "watch", "worker", "relay"}


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
    p.add_argument("--json", action="store_true")

    p = command("assets", cmd_assets, "list assets")
    p.add_argument("--json", action="store_true")

    p = command("versions", cmd_versions, "list an asset's versions")
    p.add_argument("asset")
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

    p = command("jobs", cmd_jobs, "list jobs, newest first")
    p.add_argument("--status", choices=["queued", "running", "done", "failed"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")

    p = command("retry", cmd_retry, "put failed jobs back in the queue")
    p.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID")
    p.add_argument("--failed", action="store_true", help="every failed job")

    p = command("status", cmd_status, "health: catalog, broker, backlog, jobs, daemons; "
                "exit 1 when unhealthy")
    p.add_argument("--json", action="store_true")

    command("watch", cmd_watch, "watch the drop folders and ingest settled files")
    p = command("worker", cmd_worker, "run jobs (from RabbitMQ, or the catalog when embedded)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="worker processes to start (one job each); default 1")
    command("relay", cmd_relay, "publish the catalog outbox to RabbitMQ")
    command("run", cmd_run, "everything on one machine: watcher, relay (with a broker) "
            "and [worker] concurrency workers")

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
    outcome = app.ingestor.ingest(source, rule, link=False)
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
    versions = list_versions(app.engine, args.asset)
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=2))
    else:
        print_table(["VERSION", "STATUS", "QC", "PARENT", "SIZE", "CHECKSUM", "CREATED", "FILE"],
                    [[v.label, v.status, _qc(v), v.parent or "-", _size(v.size), v.checksum[:12],
                      _ts(v.created_at), v.store_path] for v in versions])
    return EXIT_OK


def _qc(version: VersionInfo) -> str:
    qc = (version.media or {}).get("qc")
    if not qc:
        return "-"
    return f"{len(qc['warnings'])} warning(s)" if qc["warnings"] else "ok"


def cmd_show(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    v = get_version(app.engine, args.asset, _label(args.version))
    made = [{**o, "path": str(app.store.path(o["store_path"]))}
            for o in jobs.outputs_of(app.engine, v.id)]
    if args.json:
        print(json.dumps({**v.to_json(), "outputs": made}, indent=2))
        return EXIT_OK
    rows = [
        ("asset", v.asset), ("version", v.label), ("status", v.status),
        ("parent", v.parent or "-"), ("file", str(app.store.path(v.store_path))),
        ("original name", v.original_name), ("size", _size(v.size)),
        ("sha256", v.checksum), ("submitted by", v.submitted_by or "-"),
        ("from", f"{v.origin_host}:{v.origin_path}"), ("created", _ts(v.created_at)),
        ("completed", _ts(v.completed_at) if v.completed_at else "-"),
    ]
    if v.error:
        rows.append(("error", v.error))
    for warning in (v.media or {}).get("qc", {}).get("warnings", []):
        rows.append(("QC warning", warning))
    for key, found in (v.media or {}).items():
        if key.startswith("qc_") and isinstance(found, dict):
            rows += [("QC warning", w) for w in found.get("warnings", [])]
    rows += [(o["preset"], o["path"]) for o in made]
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
    report = health.check(app.config, app.engine)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return EXIT_OK if report.healthy else EXIT_FAILED
    db = report.database
    print(f"catalog   {db['url']}  {'ok' if db['reachable'] else 'UNREACHABLE'}")
    if report.broker.get("mode") == "embedded":
        print("broker    embedded (jobs claimed from the catalog)")
    else:
        state = "ok" if report.broker.get("reachable") else "UNREACHABLE"
        print(f"broker    {report.broker.get('url')}  {state}")
        for queue, depth in report.broker.get("queues", {}).items():
            print(f"  queue   {queue}: {depth if depth is not None else '?'} ready")
    if report.outbox:
        print(f"outbox    {report.outbox['backlog']} unsent, oldest "
              f"{report.outbox['oldest_age_seconds']} s")
    if report.jobs:
        print("jobs      " + ", ".join(f"{k} {v}" for k, v in report.jobs.items())
              + f" (failed in the last hour: {report.failed_last_hour})")
    for proc in report.processes:
        flag = "  STALE" if proc["stale"] else ""
        print(f"process   {proc['role']:<8} {proc['process']}  seen {proc['age_seconds']} s ago{flag}")
    for problem in report.problems:
        print(f"PROBLEM   {problem}")
    print("healthy" if report.healthy else "UNHEALTHY")
    return EXIT_OK if report.healthy else EXIT_FAILED


def _daemon(app: App) -> Shutdown:
    _require_schema(app)
    shutdown = Shutdown(app.config.worker.shutdown_grace_seconds)
    shutdown.install()
    return shutdown


def cmd_watch(app: App, args: argparse.Namespace) -> int:
    from axiomd.watcher.daemon import Watcher

    if not app.config.watch.roots:
        raise ConfigError("no [[watch.roots]] configured: nothing to watch")
    Watcher(app.config, app.ingestor, _daemon(app)).run()
    return EXIT_OK


def cmd_relay(app: App, args: argparse.Namespace) -> int:
    from axiomd.relay import Relay

    if app.config.broker.embedded:
        raise ConfigError("broker.url is empty (embedded mode): there is nothing to relay")
    Relay(app.config, app.engine, _daemon(app)).run()
    return EXIT_OK


def cmd_worker(app: App, args: argparse.Namespace) -> int:
    shutdown = _daemon(app)
    if args.concurrency > 1:
        children = Children([axiomd_command(app.config.path, "worker")] * args.concurrency,
                            shutdown)
        children.start()
        _supervise(children, shutdown, app.config.worker.shutdown_grace_seconds)
        return EXIT_OK
    _worker(app, shutdown).run()
    return EXIT_OK


def _worker(app: App, shutdown: Shutdown) -> Any:
    from axiomd.consumers.worker import EmbeddedWorker, RabbitWorker

    kind = EmbeddedWorker if app.config.broker.embedded else RabbitWorker
    return kind(app.config, app.engine, app.store, shutdown)


def _supervise(children: Children, shutdown: Shutdown, grace: float) -> None:
    while not shutdown.stop_taking.wait(0.5):
        children.check()
    children.stop(grace)


def cmd_run(app: App, args: argparse.Namespace) -> int:
    """The embedded default: one command, one machine, everything."""
    import threading

    from axiomd.relay import Relay
    from axiomd.watcher.daemon import Watcher

    if make_url_is_sqlite(app.config.database_url):
        schema.upgrade(app.engine)
    shutdown = _daemon(app)
    commands = [axiomd_command(app.config.path, "worker")] * app.config.worker.concurrency
    children = Children(commands, shutdown)
    children.start()
    relay = None
    if not app.config.broker.embedded:
        relay = threading.Thread(target=Relay(app.config, app.engine, shutdown).run,
                                 kwargs={"notify_ready": False}, name="relay", daemon=True)
        relay.start()
    supervisor = threading.Thread(target=_supervise, name="supervisor", daemon=True,
                                  args=(children, shutdown, app.config.worker.shutdown_grace_seconds))
    supervisor.start()
    try:
        if app.config.watch.roots:
            for root in app.config.watch.roots:
                root.path.mkdir(parents=True, exist_ok=True)
            Watcher(app.config, app.ingestor, shutdown).run()
        else:
            shutdown.stop_taking.wait()
    finally:
        shutdown.request("watcher stopped")
        supervisor.join()
        if relay is not None:
            relay.join(timeout=10)
    return EXIT_OK


def cmd_install_units(app: App, args: argparse.Namespace) -> int:
    from axiomd.units import install

    for path in install(app.config, args.dest, args.user, args.group):
        print(f"wrote {path}")
    print("next: systemctl daemon-reload && systemctl enable --now axiomd-watcher "
          "axiomd-relay axiomd-worker@{1..4}")
    return EXIT_OK


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
