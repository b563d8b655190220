"""Running one claimed job: keep its lease alive, call its handler, record the result.

Shared by the embedded worker (jobs claimed from the catalog) and the RabbitMQ worker
(jobs named by messages), so a job behaves the same whichever way it arrived.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from axiomd.catalog import jobs
from axiomd.catalog.jobs import ClaimedJob
from axiomd.config import Config
from axiomd.consumers.handlers import JobContext, registry
from axiomd.errors import JobFailed
from axiomd.log import get_logger
from axiomd.store import Store

log = get_logger("worker")

SOURCE_WAIT_SECONDS = 5.0


def worker_id() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


class LeaseKeeper(threading.Thread):
    """Renews a job's lease in the catalog until stopped, so nobody else takes the job."""

    def __init__(self, engine: Engine, job_id: int, owner: str, lease_seconds: float) -> None:
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.engine, self.job_id, self.owner, self.lease_seconds = engine, job_id, owner, lease_seconds
        self.finished = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.finished.wait(self.lease_seconds / 3):
            try:
                if not jobs.renew_lease(self.engine, self.job_id, self.owner, self.lease_seconds):
                    self.lost.set()
                    log.warning("job.lease_lost", job=self.job_id)
                    return
            except Exception as exc:  # database blip: the next renewal may work
                log.warning("job.lease_renew_failed", job=self.job_id, error=str(exc))

    def stop(self) -> None:
        self.finished.set()
        self.join()


@dataclass(frozen=True)
class RunOutcome:
    status: str  # done | retry | failed | released | lost
    error: str | None = None


class JobRunner:
    def __init__(self, config: Config, engine: Engine, store: Store, owner: str,
                 stop: threading.Event | None = None) -> None:
        self.config = config
        self.engine = engine
        self.store = store
        self.owner = owner
        self.handlers = registry()
        self.stop = stop or threading.Event()

    def run(self, job: ClaimedJob) -> RunOutcome:
        settings = self.config.worker
        bound = dict(job=job.id, asset=job.asset, version=job.version_label,
                     version_id=job.version_id, kind=job.kind, preset=job.preset,
                     attempt=job.attempts)
        log.info("job.started", **bound)
        started = time.monotonic()
        keeper = LeaseKeeper(self.engine, job.id, self.owner, settings.lease_seconds)
        keeper.start()
        try:
            handler = self.handlers.get(job.kind)
            preset = self.config.transcode.presets.get(job.preset)
            if handler is None or preset is None:
                raise JobFailed(f"this worker has no handler for job kind {job.kind!r} "
                                f"(preset {job.preset!r})", retryable=False)
            if not self.store.holds(job.store_path):
                if job.ingest_token and self.store.staged_path(job.ingest_token).exists():
                    keeper.stop()
                    return self._postpone(job, bound)
                raise JobFailed(f"source {job.store_path} is missing from the store",
                                retryable=False)
            ctx = JobContext(self.config, self.store, preset, self.stop, log.bind(**bound))
            result = handler(job, ctx)
        except InterruptedError:
            keeper.stop()
            jobs.release(self.engine, job.id, self.owner)
            log.info("job.released", **bound)
            return RunOutcome("released")
        except Exception as exc:
            keeper.stop()
            error = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
            retry = jobs.fail(self.engine, job.id, self.owner, error,
                              max_attempts=settings.max_attempts,
                              retry_delays=settings.retry_delays,
                              retryable=getattr(exc, "retryable", True),
                              with_outbox=not self.config.broker.embedded)
            if retry:
                log.warning("job.retrying", error=error, **bound)
                return RunOutcome("retry", error)
            log.error("job.failed", error=error, **bound)
            return RunOutcome("failed", error)
        keeper.stop()
        if not jobs.complete(self.engine, job.id, self.owner, result.outputs, result.media):
            log.warning("job.lease_lost", **bound)
            return RunOutcome("lost")
        log.info("job.done", duration_ms=round((time.monotonic() - started) * 1000, 1), **bound)
        return RunOutcome("done")

    def _postpone(self, job: ClaimedJob, bound: dict[str, object]) -> RunOutcome:
        """The version is recorded but its file is still staged (the store refused it for a
        while): wait for the watcher to publish it, without spending an attempt."""
        reason = "the source is recorded but not yet moved into the store; waiting for it"
        jobs.postpone(self.engine, job.id, self.owner, reason, delay=SOURCE_WAIT_SECONDS,
                      with_outbox=not self.config.broker.embedded)
        log.info("job.postponed", reason=reason, retry_in=SOURCE_WAIT_SECONDS, **bound)
        return RunOutcome("retry", reason)
