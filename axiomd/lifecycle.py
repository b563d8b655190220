"""Job and version state transitions. Pure: the catalog applies what these decide.

    job:      queued ─claim─▶ running ─▶ done
                 ▲              │
                 ├── retry ◀────┼─▶ failed   (after max_attempts, or not retryable)
                 │              ▼
                 └─ release ─ waiting         (its source is recorded but not yet in the
                                               store: no attempt spent, no message sent)
    version:  pending ─first claim─▶ processing ─▶ complete (all jobs done)
                                                 └▶ failed   (any job failed for good)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"


class VersionState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class AfterFailure:
    retry: bool
    delay_seconds: float


def after_failure(attempts: int, max_attempts: int, retry_delays: Sequence[float],
                  retryable: bool = True) -> AfterFailure:
    """Retry with the configured backoff while attempts remain, else fail for good."""
    if not retryable or attempts >= max_attempts:
        return AfterFailure(retry=False, delay_seconds=0.0)
    delay = retry_delays[min(attempts, len(retry_delays)) - 1] if retry_delays else 0.0
    return AfterFailure(retry=True, delay_seconds=delay)


def version_status(job_states: Iterable[str]) -> VersionState:
    """A version's status, read off its jobs' states."""
    states = [JobState(s) for s in job_states]
    if JobState.FAILED in states:
        return VersionState.FAILED
    if all(s is JobState.DONE for s in states):
        return VersionState.COMPLETE
    if any(s in (JobState.RUNNING, JobState.DONE, JobState.WAITING) for s in states):
        return VersionState.PROCESSING
    return VersionState.PENDING
