"""Job kinds and the code that does each. A handler gets the claimed job and a context,
does its work, and returns what to record; raising `JobFailed` records a failure.
"""

from __future__ import annotations

import time

from axiomd.catalog.jobs import ClaimedJob
from axiomd.consumers.context import Handler, JobContext, JobResult
from axiomd.consumers.media import probe, proxy, thumbnail
from axiomd.errors import JobFailed

__all__ = ["Handler", "JobContext", "JobResult", "noop", "registry"]


def noop(job: ClaimedJob, ctx: JobContext) -> JobResult:
    """Does nothing (the runner has checked the source is in the store); for smoke tests.

    Options: `sleep_seconds` (pretend to work), `fail_message` (fail every attempt).
    """
    deadline = time.monotonic() + float(ctx.preset.options.get("sleep_seconds", 0))
    while time.monotonic() < deadline and not ctx.stop.is_set():
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    if ctx.stop.is_set():
        raise InterruptedError("worker stopping")
    message = ctx.preset.options.get("fail_message")
    if message:
        raise JobFailed(str(message))
    return JobResult(outputs={"noop": True})


def registry() -> dict[str, Handler]:
    """Every job kind this worker can run."""
    return {"noop": noop, "probe": probe, "proxy": proxy, "thumbnail": thumbnail}
