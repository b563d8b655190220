"""Running one claimed job: keep its lease alive, call its handler, record the result.

Shared by the embedded worker (jobs claimed from the catalog) and the RabbitMQ worker
(jobs named by messages), so a job behaves the same whichever way it arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from axiomd.catalog import jobs
from axiomd.catalog.jobs import ClaimedJob
from axiomd.config import Config
from axiomd.consumers.handlers import JobContext, registry
from axiomd.errors import JobFailed
from axiomd.lifecycle import VersionState
from axiomd.log import get_logger
from axiomd.store import Store

log = get_logger("worker")

# A waiting job is released by whoever publishes its source; this is only in case they
# died before they could.
SOURCE_RECHECK_SECONDS = 300.0


class LeaseKeeper(threading.Thread):
    """Renews the leases of the jobs this worker holds, so nobody else takes them.

    One thread per worker, not one per job, and holding a job only writes down when its
    lease is due: on the hot path of short jobs, starting a thread or even waking one for
    each cost more than the job. The thread looks every sixth of a lease, so a lease is
    renewed between a third and a half of the way through; a job that ends sooner is
    never renewed at all.
    """

    def __init__(self, engine: Engine, owner: str, lease_seconds: Callable[[], float]) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.engine, self.owner, self.lease_seconds = engine, owner, lease_seconds
        self.due: dict[int, float] = {}  # job id -> when to renew its lease (monotonic)
        self.lock = threading.Lock()

    def hold(self, job_id: int) -> None:
        with self.lock:
            self.due[job_id] = time.monotonic() + self.lease_seconds() / 3
            if self.ident is None:
                self.start()

    def let_go(self, job_id: int) -> None:
        with self.lock:
            self.due.pop(job_id, None)

    def run(self) -> None:
        while True:
            time.sleep(self.lease_seconds() / 6)
            with self.lock:
                now = time.monotonic()
                ready = [job_id for job_id, at in self.due.items() if at <= now]
            for job_id in ready:
                self._renew(job_id)

    def _renew(self, job_id: int) -> None:
        lease = self.lease_seconds()
        try:
            renewed = jobs.renew_lease(self.engine, job_id, self.owner, lease)
        except Exception as exc:  # database blip: the next renewal may work
            log.warning("job.lease_renew_failed", job=job_id, error=str(exc))
            renewed = True
        with self.lock:
            if job_id not in self.due:
                return  # finished meanwhile
            if renewed:
                self.due[job_id] = time.monotonic() + lease / 3
                return
            del self.due[job_id]
        log.warning("job.lease_lost", job=job_id)


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
        self.leases = LeaseKeeper(engine, owner, lambda: self.config.worker.lease_seconds)

    def run(self, job: ClaimedJob) -> RunOutcome:
        settings = self.config.worker
        bound = dict(job=job.id, asset=job.asset, version=job.version_label,
                     version_id=job.version_id, kind=job.kind, preset=job.preset,
                     attempt=job.attempts)
        log.info("job.started", **bound)
        started = time.monotonic()
        self.leases.hold(job.id)
        try:
            handler = self.handlers.get(job.kind)
            preset = self.config.transcode.presets.get(job.preset)
            if handler is None or preset is None:
                raise JobFailed(f"this worker has no handler for job kind {job.kind!r} "
                                f"(preset {job.preset!r})", retryable=False)
            if not self.store.holds(job.store_path):
                if job.ingest_token and self.store.staged_path(job.ingest_token).exists():
                    self.leases.let_go(job.id)
                    return self._postpone(job, bound)
                raise JobFailed(f"source {job.store_path} is missing from the store",
                                retryable=False)
            ctx = JobContext(self.config, self.store, preset, self.stop, log.bind(**bound))
            result = handler(job, ctx)
        except InterruptedError:
            self.leases.let_go(job.id)
            jobs.release(self.engine, job.id, self.owner)
            log.info("job.released", **bound)
            return RunOutcome("released")
        except Exception as exc:
            self.leases.let_go(job.id)
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
            log.error("version.failed", asset=job.asset, version=job.version_label,
                      version_id=job.version_id, error=f"job {job.id} ({job.preset}): {error}")
            return RunOutcome("failed", error)
        self.leases.let_go(job.id)
        status = jobs.complete(self.engine, job.id, self.owner, result.outputs, result.media,
                               with_outbox=not self.config.broker.embedded)
        if status is None:
            log.warning("job.lease_lost", **bound)
            return RunOutcome("lost")
        log.info("job.done", duration_ms=round((time.monotonic() - started) * 1000, 1), **bound)
        if status == VersionState.COMPLETE:
            log.info("version.complete", asset=job.asset, version=job.version_label,
                     version_id=job.version_id)
        return RunOutcome("done")

    def _postpone(self, job: ClaimedJob, bound: dict[str, object]) -> RunOutcome:
        """The version is recorded but its file is still staged (the store refused it for a
        while): wait for the watcher to publish it, without spending an attempt."""
        reason = "the source is recorded but not yet moved into the store; waiting for it"
        jobs.postpone(self.engine, job.id, self.owner, reason, recheck=SOURCE_RECHECK_SECONDS)
        log.info("job.postponed", reason=reason, recheck_in=SOURCE_RECHECK_SECONDS, **bound)
        return RunOutcome("retry", reason)
