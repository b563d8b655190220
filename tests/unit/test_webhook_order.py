"""A webhook receives events in order: one waiting out its backoff holds back the rest."""

from __future__ import annotations

from pathlib import Path

from axiomd.catalog import deliveries, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.versions import allocate_version
from tests.helpers import PROBE, new_version

HOOK = "http://127.0.0.1:9/hook"


def test_a_failed_delivery_holds_back_the_later_ones_until_it_is_due(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    schema.upgrade(engine)
    for _ in range(3):
        allocate_version(engine, new_version(), PROBE, with_outbox=False)
    deliveries.fan_out(engine, [(HOOK, ("*",))])
    first, *rest = deliveries.claim_due(engine, HOOK, lease_seconds=120)
    assert len(rest) == 2
    deliveries.attempt_failed(engine, first.id, "HTTP 503", retry_in=60)
    deliveries.hand_back(engine, [d.id for d in rest])
    assert deliveries.claim_due(engine, HOOK, lease_seconds=120) == []
    engine.dispose()


def test_once_the_failed_delivery_is_due_everything_goes_in_event_order(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    schema.upgrade(engine)
    for _ in range(3):
        allocate_version(engine, new_version(), PROBE, with_outbox=False)
    deliveries.fan_out(engine, [(HOOK, ("*",))])
    first, *rest = deliveries.claim_due(engine, HOOK, lease_seconds=120)
    deliveries.attempt_failed(engine, first.id, "HTTP 503", retry_in=0)
    deliveries.hand_back(engine, [d.id for d in rest])
    again = deliveries.claim_due(engine, HOOK, lease_seconds=120)
    assert [d.event_id for d in again] == sorted(d.event_id for d in [first, *rest])
    engine.dispose()
