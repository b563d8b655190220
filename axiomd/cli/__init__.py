"""The `axiomd` command line. Exit codes: 0 ok, 1 rejected or failed input (or unhealthy),
2 usage or config error.

Whatever goes wrong, the answer is one line a person can act on (JSON under `--json`),
never a traceback; `AXIOMD_DEBUG=1` shows the traceback of an unexpected error.
`--config` and `--json` may stand before or after the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy.exc import ArgumentError, DBAPIError, ProgrammingError

from axiomd.app import App, open_app
from axiomd.catalog.db import redact, scrub
from axiomd.cli import daemons, jobs, ops, review, versions
from axiomd.cli.common import Handler
from axiomd.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from axiomd.errors import AxiomdError, ConfigError, UsageError
from axiomd.log import configure_logging
from axiomd.web import commands as web_commands

COMMANDS = (versions, review, jobs, ops, daemons, web_commands)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args)
    except BrokenPipeError:  # `axiomd … | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    try:
        app = open_app(args.config)
    except ConfigError as exc:
        return _fail(args, f"config error: {exc}", EXIT_USAGE)
    except ArgumentError as exc:
        return _fail(args, f"config error: database.url: cannot be read as a database URL "
                     f"({scrub(str(exc), '')}); e.g. postgresql://axiom@dbhost/axiom", EXIT_USAGE)
    configure_logging(service=_service(args.command), fmt=app.config.logging.format,
                      level=app.config.logging.level,
                      stream=sys.stdout if args.command in daemons.DAEMONS else sys.stderr)
    try:
        return int(args.handler(app, args))
    except (ConfigError, UsageError) as exc:
        return _fail(args, str(exc) if isinstance(exc, UsageError) else f"config error: {exc}",
                     EXIT_USAGE)
    except (AxiomdError, FileNotFoundError) as exc:
        return _fail(args, str(exc), EXIT_FAILED)
    except ProgrammingError as exc:  # a table missing: the schema is older than this axiomd
        return _fail(args, f"the catalog {redact(app.config.database_url)} does not have the "
                     f"schema this axiomd needs ({_first_line(exc, app)}); "
                     "run `axiomd db upgrade`", EXIT_FAILED)
    except DBAPIError as exc:  # passwords out: never a traceback with a URL in it
        return _fail(args, f"catalog database {redact(app.config.database_url)}: "
                     f"{_first_line(exc, app)}", EXIT_FAILED)
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("AXIOMD_DEBUG"):
            raise
        return _fail(args, f"unexpected error: {type(exc).__name__}: "
                     f"{scrub(str(exc), app.config.database_url)} (AXIOMD_DEBUG=1 shows where)",
                     EXIT_FAILED)
    finally:
        app.close()


def _first_line(exc: DBAPIError, app: App) -> str:
    first = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
    return scrub(first, app.config.database_url)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit": code}))
    else:
        print(f"axiomd: {message}", file=sys.stderr)
    return code


def _service(command: str) -> str:
    """Log `service` names match the systemd units (`axiomd-watcher`, …)."""
    return {"watch": "axiomd-watcher", "serve": "axiomd-api"}.get(command, f"axiomd-{command}")


def _version() -> str:
    try:
        return version("axiomd")
    except PackageNotFoundError:
        return "unknown"


def _everywhere(default_config: str | None, default_json: bool | str) -> argparse.ArgumentParser:
    """The options accepted before and after the command: after it, they are not given
    a default, so they never undo what was said before it."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--config", default=default_config, help=(
        "config file (default: $AXIOMD_CONFIG, ./config/axiomd.toml, "
        "/etc/axiomd/axiomd.toml, else built-in defaults)"))
    options.add_argument("--json", action="store_true", default=default_json,
                         help="output (and errors) as JSON")
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axiomd", parents=[_everywhere(None, False)],
        description="Watch-folder media pipeline: drop folders to versions.")
    parser.add_argument("--version", action="version", version=f"axiomd {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    after = _everywhere(argparse.SUPPRESS, argparse.SUPPRESS)

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help, parents=[after])
        command.set_defaults(handler=handler)
        return command

    for module in COMMANDS:
        module.register(add)
    return parser


__all__ = ["build_parser", "main"]
