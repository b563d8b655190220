"""Commands about jobs: list them, put failed ones back."""

from __future__ import annotations

import argparse

from axiomd.app import App
from axiomd.catalog import jobs
from axiomd.cli.common import Adder, require_schema
from axiomd.cli.output import EXIT_FAILED, EXIT_OK, print_json, print_table
from axiomd.errors import UsageError
from axiomd.lifecycle import JobState


def register(add: Adder) -> None:
    p = add("jobs", cmd_jobs, "list jobs, newest first")
    p.add_argument("--status", choices=[str(s) for s in JobState])
    p.add_argument("--limit", type=int, default=100)

    p = add("retry", cmd_retry, "put failed jobs back in the queue")
    p.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID")
    p.add_argument("--failed", action="store_true", help="every failed job")


def cmd_jobs(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    rows = jobs.list_jobs(app.engine, args.status, args.limit)
    if args.json:
        print_json([j.to_json() for j in rows])
    else:
        print_table(["JOB", "ASSET", "VERSION", "PRESET", "STATUS", "TRIES", "ERROR"],
                    [[str(j.id), j.asset, j.version, j.preset, j.status, str(j.attempts),
                      (j.last_error or "")[:80]] for j in rows])
    return EXIT_OK


def cmd_retry(app: App, args: argparse.Namespace) -> int:
    require_schema(app)
    if not args.failed and not args.job_ids:
        raise UsageError("name job ids, or --failed for every failed job")
    ids = jobs.retry_failed(app.engine, None if args.failed else args.job_ids,
                            with_outbox=not app.config.broker.embedded)
    missing = sorted(set(args.job_ids) - set(ids))
    if args.json:
        print_json({"requeued": ids, "not_failed": missing})
    else:
        if ids:
            print(f"requeued {len(ids)} job(s): {', '.join(map(str, ids))}")
        if missing:
            print(f"not failed (or unknown), left alone: {', '.join(map(str, missing))}")
        if not ids and not missing:
            print("no failed jobs")
    return EXIT_FAILED if missing else EXIT_OK
