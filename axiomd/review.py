"""Review states of a version, and what may be reviewed or derived. Pure.

    version complete ─▶ pending_review ─▶ approved | rejected | cbb | deprecated
                              ▲──────────── any state, any time (`pending`) ───┘

Every change is kept as history; the current state is on the version. Only a complete
version has a review state: a pending, processing or failed one has nothing to look at.
"""

from __future__ import annotations

from enum import StrEnum

from axiomd.errors import ReviewRefused


class ReviewState(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    CBB = "cbb"  # could be better
    DEPRECATED = "deprecated"


# What a supervisor types → the state it sets.
ACTIONS: dict[str, ReviewState] = {
    "approve": ReviewState.APPROVED,
    "reject": ReviewState.REJECTED,
    "cbb": ReviewState.CBB,
    "deprecate": ReviewState.DEPRECATED,
    "pending": ReviewState.PENDING_REVIEW,
}


def review_target(action: str) -> ReviewState:
    """The state an action (`approve`) or a state name (`approved`) sets."""
    if action in ACTIONS:
        return ACTIONS[action]
    try:
        return ReviewState(action)
    except ValueError:
        raise ReviewRefused(f"{action!r} is not a review action (one of: "
                            f"{', '.join(ACTIONS)})") from None


def check_reviewable(asset: str, label: str, status: str) -> None:
    """Refuse to review a version that is not complete, saying why and what to do."""
    if status != "complete":
        hint = ("its jobs failed; fix the cause and `axiomd retry` them first"
                if status == "failed" else "wait until its jobs are done")
        raise ReviewRefused(f"{asset} {label} is {status}, not complete: only a complete "
                            f"version can be reviewed ({hint})")


def check_derivable(asset: str, label: str, review: str | None) -> None:
    """The rule for rolling back to a deprecated version: refused.

    Deprecated means "never use this again"; a rollback would quietly make it current.
    Taking it back is a deliberate, recorded step: review it `pending` first.
    """
    if review == ReviewState.DEPRECATED:
        raise ReviewRefused(
            f"{asset} {label} is deprecated, so it cannot be derived from; if it should be "
            f"used again, run `axiomd review {asset} {label} pending --note WHY` first")
