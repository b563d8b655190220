"""Commands about versions: ingest, assets, versions, show, lineage, derive, verify."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from axiomd.api import Catalog
from axiomd.app import App
from axiomd.catalog.jobs import outputs_of
from axiomd.catalog.versions import LineageNode, VersionInfo, get_version, lineage, list_assets
from axiomd.cli.common import Adder, require_schema
from axiomd.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    label,
    print_json,
    print_table,
    progress_bar,
    size,
    ts,
)
from axiomd.sequences import frames_on_disk


def register(add: Adder) -> None:
    p = add("ingest", cmd_ingest, "validate, store and version one file (or an image sequence "
            "given as name.####.exr or name.1001-1024#.exr) by hand")
    p.add_argument("file", help="a file, or an image sequence pattern")
    p.add_argument("--root", help="drop root whose naming rule applies")
    p.add_argument("--note", help="publish note stored on the version")
    p.add_argument("--user", help="who it is published for (default: the file's owner)")
    p.add_argument("--task", help="the task it was published for")

    add("assets", cmd_assets, "list assets")

    p = add("versions", cmd_versions, "list an asset's versions")
    p.add_argument("asset")
    p.add_argument("--review", metavar="STATE",
                   help="only versions in this review state (approved, rejected, cbb, …)")

    p = add("show", cmd_show, "one version in detail: metadata, outputs, QC, colour")
    p.add_argument("asset")
    p.add_argument("version", help="label such as v003")

    p = add("lineage", cmd_lineage, "an asset's versions as a tree of what came from what")
    p.add_argument("asset")

    p = add("derive", cmd_derive,
            "new version with an old version's content (rollback); nothing is deleted")
    p.add_argument("asset")
    p.add_argument("--from", dest="source", required=True, help="label such as v002")

    p = add("verify", cmd_verify, "hash the stored versions again and compare with the "
            "catalog; exit 1 on any mismatch")
    p.add_argument("asset", nargs="?", help="only this asset's versions")


def cmd_ingest(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    app.ingestor.recover_staged()  # an earlier run the store refused after its commit
    sequence = frames_on_disk(args.file)
    if sequence is not None:
        if not sequence.frames:
            raise FileNotFoundError(f"no frames match {args.file}")
        rule = app.ingestor.rule_for_path(sequence.folder, args.root)
        total = 2 * sum(p.stat().st_size for p in sequence.frames)  # copied, then checked
        with progress_bar(total, sequence.frames[0].name):
            outcome = app.ingestor.ingest_frames(sequence.frames, rule, note=args.note,
                                                 user=args.user, task=args.task)
    else:
        source = Path(args.file)
        if not source.is_file():
            raise FileNotFoundError(f"{source} is not a file (nor a frame pattern such as "
                                    "name.####.exr)")
        rule = app.ingestor.rule_for_path(source, args.root)
        with progress_bar(2 * source.stat().st_size, source.name):
            outcome = app.ingestor.ingest(source, rule, link=False, note=args.note,
                                          user=args.user, task=args.task)
    if args.json:
        print_json({
            "status": outcome.status, "file": outcome.file, "reason": outcome.reason or None,
            "duplicate_of": outcome.duplicate_of, "suggestion": outcome.suggestion,
            "version": outcome.version.to_json() if outcome.version else None,
        })
    elif outcome.version:
        v = outcome.version
        print(f"{v.asset} {v.label}  {app.store.path(v.store_path)}")
    else:
        hint = f" (try {outcome.suggestion})" if outcome.suggestion else ""
        print(f"axiomd: {outcome.status}: {outcome.reason}{hint}", file=sys.stderr)
    return EXIT_OK if outcome.status == "accepted" else EXIT_FAILED


def cmd_assets(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    assets = list_assets(app.engine)
    if args.json:
        print_json([a.to_json() for a in assets])
    else:
        print_table(["ASSET", "LATEST", "VERSIONS", "CREATED (UTC)"],
                    [[a.name, a.to_json()["latest"] or "-", str(a.latest_number),
                      ts(a.created_at)] for a in assets])
    return EXIT_OK


def cmd_versions(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    versions = Catalog(app).versions(args.asset, review=args.review)
    if args.json:
        print_json([v.to_json() for v in versions])
    else:
        print_table(["VERSION", "STATUS", "REVIEW", "QC", "PARENT", "SIZE", "CHECKSUM",
                     "CREATED (UTC)", "FILE"],
                    [[v.label, v.status, v.review or "-", _qc(v), v.parent or "-", size(v.size),
                      v.checksum[:12], ts(v.created_at), v.store_path] for v in versions])
    return EXIT_OK


def _qc(version: VersionInfo) -> str:
    qc = (version.media or {}).get("qc")
    if not qc:
        return "-"
    return f"{len(qc['warnings'])} warning(s)" if qc["warnings"] else "ok"


def cmd_show(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    v = get_version(app.engine, args.asset, label(args.version))
    outputs = outputs_of(app.engine, v.id)
    if args.json:
        print_json({**v.to_json(), "outputs": outputs})
        return EXIT_OK
    rows = [
        ("asset", v.asset), ("version", v.label), ("status", v.status),
        ("parent", v.parent or "-"), ("review", v.review or "-"),
        ("file", str(app.store.path(v.store_path))),
        ("original name", v.original_name), ("size", size(v.size)),
        ("sha256", v.checksum), ("submitted by", v.submitted_by or "-"),
        ("note", v.note or "-"),
        ("from", f"{v.origin_host}:{v.origin_path}"), ("created (UTC)", ts(v.created_at)),
        ("completed (UTC)", ts(v.completed_at)),
    ]
    for kind, output in sorted(outputs.items()):
        rows.append((kind, str(app.store.path(output["path"]))
                     if isinstance(output, dict) and "path" in output else str(output)))
    color = (v.media or {}).get("color")
    if color:
        rows.append(("colour", ", ".join(f"{k}: {val}" for k, val in color.items())))
    if v.error:
        rows.append(("error", v.error))
    for warning in (v.media or {}).get("qc", {}).get("warnings", []):
        rows.append(("QC warning", warning))
    for key, value in rows:
        print(f"{key:>15}  {value}")
    if v.media:
        import json

        print(f"{'media':>15}  {json.dumps(v.media, indent=2)}")
    return EXIT_OK


def cmd_lineage(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    roots = lineage(app.engine, args.asset)
    if args.json:
        print_json([_node_json(n) for n in roots])
        return EXIT_OK
    print(args.asset)
    for line in render_tree(roots):
        print(line)
    return EXIT_OK


def _node_json(node: LineageNode) -> dict[str, Any]:
    return {**node.version.to_json(), "children": [_node_json(c) for c in node.children]}


def render_tree(roots: Sequence[LineageNode]) -> list[str]:
    """Text tree (times UTC); a long straight chain stays flat instead of walking off."""
    lines: list[str] = []
    stack: list[tuple[LineageNode, str]] = [(n, "") for n in reversed(roots)]
    while stack:
        node, indent = stack.pop()
        v = node.version
        lines.append(f"{indent}{v.label}  {v.status:<10} {v.checksum[:12]}  "
                     f"{ts(v.created_at)} UTC" + (f"  (from {v.parent})" if v.parent and indent
                                                  else ""))
        children = list(node.children)
        if len(children) == 1:
            stack.append((children[0], indent))
        else:
            stack.extend((c, indent + "    ") for c in reversed(children))
    return lines


def cmd_derive(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    source = get_version(app.engine, args.asset, label(args.source))
    with progress_bar(source.size, f"{args.asset} {source.label}"):
        version = app.ingestor.derive(args.asset, label(args.source))
    if args.json:
        print_json(version.to_json())
    else:
        print(f"{version.asset} {version.label} (from {version.parent})  "
              f"{app.store.path(version.store_path)}")
    return EXIT_OK


def cmd_verify(app: App, args: argparse.Namespace) -> int:
    from axiomd.verify import verify

    require_schema(app)
    checked, bad = 0, []
    for _version, mismatch in verify(app.engine, app.store, args.asset):
        checked += 1
        if mismatch is not None:
            bad.append(mismatch)
            if not args.json:
                print(f"MISMATCH {mismatch}")
    if args.json:
        print_json({"checked": checked, "mismatches": [vars(m) for m in bad]})
    else:
        print(f"{checked} versions checked, {len(bad)} mismatched")
    return EXIT_FAILED if bad else EXIT_OK
