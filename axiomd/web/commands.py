"""`axiomd serve` and `axiomd token …`: the HTTP API's commands, registered by cli.py."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from axiomd.access import Role
from axiomd.app import App
from axiomd.catalog import schema, tokens
from axiomd.catalog.db import reachable, redact
from axiomd.errors import ConfigError

Command = Callable[[str, Callable[[App, argparse.Namespace], int], str], argparse.ArgumentParser]


def register(command: Command, sub: Any) -> None:
    command("serve", cmd_serve, "the HTTP API and the review page on [api] listen "
            "(default 127.0.0.1:8750)")
    token = sub.add_parser("token", help="API tokens: create (printed once), list, revoke",
                           description="API tokens: create (printed once), list, revoke")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION")
    p = actions.add_parser("create", help="a new token, printed once on stdout")
    p.add_argument("--name", required=True, help="who or what it is for; the actor of its writes")
    p.add_argument("--role", required=True, choices=[str(r) for r in Role])
    p.set_defaults(handler=cmd_token_create)
    p = actions.add_parser("list", help="tokens (never their secrets)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_token_list)
    p = actions.add_parser("revoke", help="revoke a token by name; its page sessions end too")
    p.add_argument("name")
    p.set_defaults(handler=cmd_token_revoke)


def _require_schema(app: App) -> None:
    with reachable(app.engine):
        if schema.current_revision(app.engine) != schema.head_revision():
            raise ConfigError(f"catalog {redact(app.config.database_url)} is not at the newest "
                              "schema; run `axiomd db upgrade`")


def cmd_serve(app: App, args: argparse.Namespace) -> int:
    from axiomd.web.server import serve

    _require_schema(app)
    serve(app)
    return 0


def cmd_token_create(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    print(tokens.create(app.engine, args.name, args.role))
    return 0


def cmd_token_list(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    found = tokens.list_tokens(app.engine)
    if args.json:
        print(json.dumps([t.to_json() for t in found], indent=2))
        return 0
    if not found:
        print("(none)")
    for t in found:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live"
        print(f"{t.name:<24} {t.role:<10} created {t.created_at:%Y-%m-%d %H:%M}  {state}")
    return 0


def cmd_token_revoke(app: App, args: argparse.Namespace) -> int:
    _require_schema(app)
    n = tokens.revoke(app.engine, args.name)
    print(f"revoked {n} token(s) named {args.name}")
    return 0
