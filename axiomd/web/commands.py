"""`axiomd serve` and `axiomd token create|list|revoke`: the HTTP API's commands."""

from __future__ import annotations

import argparse
import json

from axiomd.access import Role
from axiomd.app import App
from axiomd.catalog import tokens
from axiomd.cli.common import Adder, require_schema
from axiomd.cli.output import EXIT_OK
from axiomd.errors import UsageError


def register(add: Adder) -> None:
    add("serve", cmd_serve, "the HTTP API and the review page on [api] listen "
        "(default 127.0.0.1:8750)")
    p = add("token", cmd_token, "API tokens: `token create --name NAME --role ROLE` prints a "
            "new token once; `token list`; `token revoke NAME`")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("revoked", nargs="?", metavar="NAME", help="the token to revoke")
    p.add_argument("--name", help="who or what it is for; the actor of its writes")
    p.add_argument("--role", choices=[str(r) for r in Role])


def cmd_serve(app: App, args: argparse.Namespace) -> int:
    from axiomd.web.server import serve

    require_schema(app)
    serve(app)
    return EXIT_OK


def cmd_token(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    if args.action == "create":
        if not args.name or not args.role:
            raise UsageError("token create needs --name NAME and --role "
                             f"{'|'.join(str(r) for r in Role)}")
        print(tokens.create(app.engine, args.name, args.role))
    elif args.action == "revoke":
        if not args.revoked:
            raise UsageError("token revoke needs the token's name (`axiomd token list`)")
        n = tokens.revoke(app.engine, args.revoked)
        print(json.dumps({"revoked": args.revoked, "tokens": n}) if args.json
              else f"revoked {n} token(s) named {args.revoked}")
    else:
        _list(app, args)
    return EXIT_OK


def _list(app: App, args: argparse.Namespace) -> None:
    found = tokens.list_tokens(app.engine)
    if args.json:
        print(json.dumps([t.to_json() for t in found], indent=2))
        return
    if not found:
        print("(none)")
    for t in found:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live"
        print(f"{t.name:<24} {t.role:<10} created {t.created_at:%Y-%m-%d %H:%M}  {state}")
