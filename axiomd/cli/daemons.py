"""The long-running commands; their wiring lives in `axiomd.app`."""

from __future__ import annotations

import argparse

from axiomd import app as wiring
from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.db import make_url_is_sqlite
from axiomd.cli.common import Adder, require_schema
from axiomd.cli.output import EXIT_OK
from axiomd.daemon import Shutdown, run_service

DAEMONS = {"run", "watch", "worker", "relay", "serve"}


def register(add: Adder) -> None:
    add("watch", cmd_watch, "watch the drop folders and ingest settled files")
    p = add("worker", cmd_worker, "run jobs (from RabbitMQ, or the catalog when embedded)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="worker processes to start (one job each); default 1")
    add("relay", cmd_relay, "publish the catalog outbox to RabbitMQ, deliver webhooks")
    add("run", cmd_run, "everything on one machine: watcher, relay (with a broker) "
        "and [worker] concurrency workers")


def _daemon(app: App) -> Shutdown:
    require_schema(app)
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
