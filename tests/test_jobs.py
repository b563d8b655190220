"""Jobs in the catalog: finishing them settles their version, exactly once, on both catalogs."""

from __future__ import annotations

import threading

import psycopg2
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from axiomd.catalog import jobs, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import version_t
from axiomd.catalog.versions import JobSpec, allocate_version
from tests.helpers import new_version

TWO_JOBS = [JobSpec("probe", "probe"), JobSpec("thumbnail", "thumbnail")]


def claimed_pair(engine: Engine) -> tuple[int, list[int]]:
    """A version with two jobs, both claimed by `me`: (version id, job ids)."""
    version = allocate_version(engine, new_version(), TWO_JOBS, with_outbox=False)
    held = [jobs.claim_next(engine, "me", 60) for _ in TWO_JOBS]
    return version.id, [job.id for job in held if job is not None]


def version_row(engine: Engine, version_id: int) -> object:
    with engine.connect() as conn:
        return conn.execute(select(version_t).where(version_t.c.id == version_id)).one()


def test_finishing_the_last_job_completes_the_version(engine: Engine) -> None:
    version_id, (first, second) = claimed_pair(engine)
    assert jobs.complete(engine, first, "me")
    halfway = version_row(engine, version_id)
    assert (halfway.status, halfway.jobs_left, halfway.completed_at) == ("processing", 1, None)
    assert jobs.complete(engine, second, "me")
    done = version_row(engine, version_id)
    assert (done.status, done.jobs_left) == ("complete", 0)
    assert done.completed_at is not None


def test_a_job_finished_twice_counts_once(engine: Engine) -> None:
    version_id, (first, _) = claimed_pair(engine)
    assert jobs.complete(engine, first, "me")
    assert not jobs.complete(engine, first, "me")
    assert version_row(engine, version_id).jobs_left == 1


def test_a_job_held_by_another_worker_is_not_finished(engine: Engine) -> None:
    version_id, (first, _) = claimed_pair(engine)
    assert not jobs.complete(engine, first, "someone-else")
    assert version_row(engine, version_id).jobs_left == 2


def test_media_from_each_job_is_merged_into_the_version(engine: Engine) -> None:
    version_id, (first, second) = claimed_pair(engine)
    jobs.complete(engine, first, "me", media={"codec": "prores", "fps": 24})
    jobs.complete(engine, second, "me", media={"fps": 25, "frames": 100})
    assert version_row(engine, version_id).media == {"codec": "prores", "fps": 25, "frames": 100}


def test_a_version_with_a_failed_job_stays_failed_when_the_other_finishes(engine: Engine) -> None:
    version_id, (first, second) = claimed_pair(engine)
    jobs.fail(engine, first, "me", "bad file", max_attempts=1, retry_delays=[], retryable=False,
              with_outbox=False)
    assert jobs.complete(engine, second, "me")
    assert version_row(engine, version_id).status == "failed"


def test_two_last_jobs_finishing_at_once_complete_their_versions(pg_url: str) -> None:
    """Each version's two jobs are finished by two workers at the same moment: neither may
    miss that, between them, they were the last."""
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    pairs = [claimed_pair(engine)[1] for _ in range(150)]
    start = threading.Barrier(2)

    def finish(which: int) -> None:
        own = make_engine(pg_url, pool_size=1)
        start.wait()
        for pair in pairs:
            jobs.complete(own, pair[which], "me")
        own.dispose()

    workers = [threading.Thread(target=finish, args=(i,)) for i in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with engine.connect() as conn:
        states = conn.execute(select(version_t.c.status, version_t.c.jobs_left)).all()
    assert set(states) == {("complete", 0)}
    engine.dispose()


def test_a_claim_after_the_database_dropped_the_connection_uses_a_new_one(pg_url: str) -> None:
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    version_id, _ = claimed_pair(engine)  # the pooled connection now has its statements
    allocate_version(engine, new_version(), TWO_JOBS, with_outbox=False)
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    admin.close()
    job = jobs.claim_next(engine, "me", 60)
    assert job is not None and job.version_id != version_id
    assert jobs.complete(engine, job.id, "me")
    engine.dispose()


def test_a_worker_started_before_the_schema_claims_once_it_exists(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with pytest.raises(psycopg2.errors.UndefinedTable):
        jobs.claim_next(engine, "me", 60)
    schema.upgrade(engine)
    allocate_version(engine, new_version(), TWO_JOBS, with_outbox=False)
    assert jobs.claim_next(engine, "me", 60) is not None
    engine.dispose()
