"""The `axiomd` command line. Exit codes: 0 ok, 1 rejected or failed input, 2 usage/config."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from axiomd.app import App, open_app
from axiomd.catalog import schema
from axiomd.catalog.db import reachable, redact
from axiomd.catalog.versions import (
    LineageNode,
    get_version,
    lineage,
    list_assets,
    list_versions,
)
from axiomd.errors import (
    AxiomdError,
    CatalogUnavailable,
    ConfigError,
    NotFound,
    StoreError,
)
from axiomd.log import configure_logging
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
    except CatalogUnavailable as exc:
        print(f"axiomd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (NotFound, StoreError, AxiomdError) as exc:
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
        print_table(["VERSION", "STATUS", "PARENT", "SIZE", "CHECKSUM", "CREATED", "FILE"],
                    [[v.label, v.status, v.parent or "-", _size(v.size), v.checksum[:12],
                      _ts(v.created_at), v.store_path] for v in versions])
    return EXIT_OK


def cmd_show(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    v = get_version(app.engine, args.asset, _label(args.version))
    if args.json:
        print(json.dumps(v.to_json(), indent=2))
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
