"""Version events and review rules, decided without a database or a network."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from axiomd import events
from axiomd.errors import ReviewRefused
from axiomd.review import ReviewState, check_derivable, check_reviewable, review_target
from axiomd.webhooks import backoff

ASSET = "TST_SQ010_SH0010_comp"


def test_event_json_has_the_documented_keys() -> None:
    """Schema 1: the keys docs/events.md lists, the version as label and number."""
    event = events.render(
        event_id=7, name=events.REVIEWED, created_at=datetime(2026, 11, 26, tzinfo=UTC),
        asset=ASSET, number=3, parent_number=2, store_path="TST/v003/x.mov",
        payload=events.moment("complete", "approved", "sup", "ok", previous_review="cbb"),
        outputs={"proxy": "p.mp4", "thumbnail": "t.jpg"})
    assert set(event) == {"schema", "id", "event", "at", "asset", "version", "number", "parent",
                          "status", "review", "store_path", "outputs", "by", "note",
                          "previous_review"}
    assert (event["schema"], event["version"], event["parent"]) == (1, "v003", "v002")


def test_the_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    """`sha256=<hex>` over the bytes sent, and the same event always gives the same bytes."""
    body = events.body({"b": 1, "a": [1, 2]})
    assert body == events.body({"a": [1, 2], "b": 1})
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert events.signature("s3cret", body) == f"sha256={expected}"


def test_subscriptions_take_names_stars_and_families() -> None:
    """`*` takes everything, `version.*` the family, a name only itself."""
    assert events.selected(["*"], events.NOTED)
    assert events.selected(["version.*"], events.COMPLETE)
    assert not events.selected(["version.complete"], events.CREATED)


def test_retries_back_off_doubling_up_to_five_minutes() -> None:
    """1, 2, 4 … seconds, never more than 300."""
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30) == 300


def test_review_actions_name_their_states() -> None:
    """`approve` sets `approved`, `pending` sets `pending_review`; a state name works too."""
    assert review_target("approve") is ReviewState.APPROVED
    assert review_target("pending") is ReviewState.PENDING_REVIEW
    assert review_target("cbb") is ReviewState.CBB
    with pytest.raises(ReviewRefused, match="not a review action"):
        review_target("love")


def test_only_a_complete_version_can_be_reviewed() -> None:
    """A failed one is refused with what to do about it."""
    check_reviewable(ASSET, "v001", "complete")
    with pytest.raises(ReviewRefused, match=r"failed, not complete.*axiomd retry"):
        check_reviewable(ASSET, "v001", "failed")


def test_a_deprecated_version_is_not_derived_from() -> None:
    """The rollback rule: deprecated is refused, every other state is allowed."""
    for state in (None, *[s for s in ReviewState if s is not ReviewState.DEPRECATED]):
        check_derivable(ASSET, "v001", state)
    with pytest.raises(ReviewRefused, match="pending --note"):
        check_derivable(ASSET, "v001", "deprecated")
