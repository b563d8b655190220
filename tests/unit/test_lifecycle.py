"""Job and version state transitions, decided without a database."""

from __future__ import annotations

from axiomd.lifecycle import JobState, VersionState, after_failure, version_status


def test_a_version_is_pending_until_a_job_starts() -> None:
    assert version_status([JobState.QUEUED, JobState.QUEUED]) is VersionState.PENDING


def test_a_version_is_processing_once_any_job_ran() -> None:
    assert version_status(["done", "queued"]) is VersionState.PROCESSING


def test_a_version_is_complete_when_every_job_is_done() -> None:
    assert version_status(["done", "done"]) is VersionState.COMPLETE


def test_one_failed_job_fails_the_version() -> None:
    assert version_status(["done", "failed", "running"]) is VersionState.FAILED


def test_failures_are_retried_with_the_configured_delays_until_attempts_run_out() -> None:
    delays = (5.0, 30.0)
    assert after_failure(1, 3, delays).delay_seconds == 5.0
    assert after_failure(2, 3, delays).delay_seconds == 30.0
    assert not after_failure(3, 3, delays).retry


def test_a_failure_that_cannot_succeed_is_not_retried() -> None:
    assert not after_failure(1, 3, (5.0,), retryable=False).retry


def test_states_read_as_the_strings_the_catalog_stores() -> None:
    assert f"{JobState.QUEUED}" == "queued" and VersionState.COMPLETE == "complete"
