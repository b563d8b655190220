"""Commands around a version's review: review, note, notes, latest, events."""

from __future__ import annotations

import argparse

from axiomd.api import Catalog
from axiomd.app import App
from axiomd.cli.common import Adder, require_schema
from axiomd.cli.output import EXIT_OK, print_json, print_table, ts
from axiomd.review import ACTIONS as REVIEW_ACTIONS


def register(add: Adder) -> None:
    p = add("review", cmd_review, "set a complete version's review state "
            "(approve, reject, cbb, deprecate, pending)")
    p.add_argument("asset")
    p.add_argument("version", help="label such as v003")
    p.add_argument("action", choices=list(REVIEW_ACTIONS))
    p.add_argument("--note", help="why, kept in the review history")
    p.add_argument("--by", help="who reviews (default: you)")

    p = add("note", cmd_note, "add a note to a version")
    p.add_argument("asset")
    p.add_argument("version", help="label such as v003")
    p.add_argument("text")
    p.add_argument("--by", help="who writes (default: you)")

    p = add("notes", cmd_notes, "notes and review changes of an asset or one version")
    p.add_argument("asset")
    p.add_argument("version", nargs="?", help="label such as v003 (default: all)")

    p = add("latest", cmd_latest, "store path of the newest complete version "
            "(what a DCC loader opens)")
    p.add_argument("asset")
    p.add_argument("--approved", action="store_true", help="the newest approved one")

    p = add("events", cmd_events, "version events from the catalog (docs/events.md); "
            "--json prints one object per line")
    p.add_argument("--follow", action="store_true", help="keep printing new events")
    p.add_argument("--after", type=int, default=0, metavar="ID",
                   help="only events after this id (with --follow and no --after: new ones)")
    p.add_argument("--asset", help="only this asset's events")


def cmd_review(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    entry = Catalog(app).review(args.asset, args.version, args.action, args.by, args.note)
    if args.json:
        print_json(entry.to_json())
    else:
        print(f"{entry.asset} {entry.version}: {entry.from_state or '-'} -> {entry.to_state}"
              f" (by {entry.by})")
    return EXIT_OK


def cmd_note(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    entry = Catalog(app).note(args.asset, args.version, args.text, args.by)
    if args.json:
        print_json(entry.to_json())
    else:
        print(f"{entry.asset} {entry.version}: note by {entry.by} kept")
    return EXIT_OK


def cmd_notes(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    entries = Catalog(app).notes(args.asset, args.version)
    if args.json:
        print_json([e.to_json() for e in entries])
        return EXIT_OK
    print_table(["VERSION", "WHEN (UTC)", "BY", "WHAT"],
                [[e.version, ts(e.at), e.by,
                  (f"review {e.from_state or '-'} -> {e.to_state}" if e.kind == "review" else "")
                  + (": " if e.kind == "review" and e.text else "") + (e.text or "")]
                 for e in entries])
    return EXIT_OK


def cmd_latest(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    catalog = Catalog(app)
    version = catalog.latest(args.asset, approved=args.approved)
    if args.json:
        print_json({**version.to_json(), "path": str(catalog.path(version))})
    else:
        print(catalog.path(version))
    return EXIT_OK


def cmd_events(app: App, args: argparse.Namespace) -> int:
    import json

    require_schema(app)
    after = None if args.follow and not args.after else args.after
    for event in Catalog(app).events(after=after, follow=args.follow, asset=args.asset):
        if args.json:
            print(json.dumps(event), flush=True)
        else:
            print(f"{event['id']:>6}  {event['at'][:19]}Z  {event['event']:<17} "
                  f"{event['asset']} {event['version']}  {event['status']}"
                  f"/{event['review'] or '-'}  {event['by'] or '-'}"
                  + (f"  {event['note']}" if event.get("note") else ""), flush=True)
    return EXIT_OK
