"""Version numbers are dense and unique, lineage is kept, and nothing is overwritten."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from axiomd.catalog import schema, versions
from axiomd.catalog.db import make_engine
from axiomd.catalog.models import event_t, job_t, outbox_t, version_t
from axiomd.catalog.versions import (
    VersionInfo,
    allocate_version,
    allocate_versions,
    lineage,
    list_versions,
)
from axiomd.errors import DuplicateContent, NotFound, VersionConflict, VersionGap
from tests.helpers import PROBE, allocate_batches, allocate_many, new_version, wait_for

ASSET = "TST_SQ010_SH0010_comp"


def test_first_version_is_v001_without_parent(engine: Engine) -> None:
    """A new asset starts at 1 and has no parent."""
    v = allocate_version(engine, new_version(), PROBE, with_outbox=False)
    assert (v.number, v.label, v.parent, v.status) == (1, "v001", None, "pending")


def test_each_version_takes_the_previous_as_parent(engine: Engine) -> None:
    """Lineage: by default a version's parent is the asset's latest version."""
    for _ in range(3):
        allocate_version(engine, new_version(), PROBE, with_outbox=False)
    assert [(v.label, v.parent) for v in list_versions(engine, ASSET)] == [
        ("v001", None), ("v002", "v001"), ("v003", "v002")]


def test_version_jobs_and_outbox_rows_are_written_together(engine: Engine) -> None:
    """One allocation writes the version, its jobs and their outbox messages."""
    v = allocate_version(engine, new_version(), PROBE, with_outbox=True)
    with engine.connect() as conn:
        job = conn.execute(select(job_t).where(job_t.c.version_id == v.id)).one()
        message = conn.execute(select(outbox_t).where(outbox_t.c.job_id == job.id)).one()
    assert (job.kind, job.status) == ("probe", "queued")
    assert (message.routing_key, message.sent_at) == ("job.probe", None)


def test_embedded_mode_writes_no_outbox_rows(engine: Engine) -> None:
    """Without a broker, workers claim jobs from the catalog; nothing waits to be published."""
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_t)).scalar() == 0


def test_same_content_as_an_existing_version_is_a_duplicate(engine: Engine) -> None:
    """Identical content is reported as a duplicate naming the version it matches."""
    allocate_version(engine, new_version(content="a"), PROBE, with_outbox=False)
    allocate_version(engine, new_version(content="b"), PROBE, with_outbox=False)
    with pytest.raises(DuplicateContent) as info:
        allocate_version(engine, new_version(content="a"), PROBE, with_outbox=False)
    assert info.value.version_label == "v001"
    assert [v.number for v in list_versions(engine, ASSET)] == [1, 2]


def test_a_refused_allocation_leaves_no_gap(engine: Engine) -> None:
    """A duplicate rolls back the counter: the next good file still gets the next number."""
    allocate_version(engine, new_version(content="a"), PROBE, with_outbox=False)
    with pytest.raises(DuplicateContent):
        allocate_version(engine, new_version(content="a"), PROBE, with_outbox=False)
    assert allocate_version(engine, new_version(), PROBE, with_outbox=False).number == 2


def test_requested_number_that_is_next_is_accepted(engine: Engine) -> None:
    """A file named v002 when v001 exists becomes v002."""
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    v = allocate_version(engine, new_version(requested_number=2), PROBE, with_outbox=False)
    assert v.number == 2


def test_a_taken_number_is_rejected_by_default(engine: Engine) -> None:
    """Policy `reject`: an existing number is refused, saying the next one."""
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    with pytest.raises(VersionConflict, match=r"next version of .* is v002") as refused:
        allocate_version(engine, new_version(requested_number=1), PROBE, with_outbox=False)
    assert refused.value.next_number == 2


@pytest.mark.parametrize("policy", ["reject", "renumber"])
def test_a_number_past_the_next_is_early_under_either_policy(engine: Engine, policy: str) -> None:
    """A lower number may still be on its way: nothing is allocated, nothing swapped."""
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    with pytest.raises(VersionGap):
        allocate_version(engine, new_version(requested_number=3, version_policy=policy), PROBE,
                         with_outbox=False)
    assert allocate_version(engine, new_version(requested_number=2), PROBE,
                            with_outbox=False).number == 2


def test_a_gap_is_refused_once_the_caller_has_waited_for_it(engine: Engine) -> None:
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    with pytest.raises(VersionConflict, match=r"v005 would leave a gap"):
        allocate_version(engine, new_version(requested_number=5, allow_gap=True), PROBE,
                         with_outbox=False)


def test_the_same_content_under_a_taken_number_is_a_duplicate_not_a_numbering_error(
        engine: Engine) -> None:
    allocate_version(engine, new_version(content="take one"), PROBE, with_outbox=False)
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    with pytest.raises(DuplicateContent, match=r"same content as .* v001"):
        allocate_version(engine, new_version(content="take one", requested_number=1), PROBE,
                         with_outbox=False)


def test_requested_number_not_next_is_renumbered_under_renumber_policy(engine: Engine) -> None:
    """Policy `renumber`: the file gets the next number; nothing is overwritten."""
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    v = allocate_version(engine, new_version(requested_number=1, version_policy="renumber"),
                         PROBE, with_outbox=False)
    assert v.number == 2
    assert v.store_path.endswith("v002/TST_SQ010_SH0010_comp_v002.mov")


def test_explicit_parent_records_a_branch(engine: Engine) -> None:
    """A version made from an older one shows up under it in the lineage tree."""
    for _ in range(2):
        allocate_version(engine, new_version(), PROBE, with_outbox=False)
    allocate_version(engine, new_version(parent_number=1), PROBE, with_outbox=False)
    roots = lineage(engine, ASSET)
    assert [c.version.label for c in roots[0].children] == ["v002", "v003"]


def test_parent_that_does_not_exist_is_refused(engine: Engine) -> None:
    """Deriving from a version that is not there is an error, not a rootless version."""
    allocate_version(engine, new_version(), PROBE, with_outbox=False)
    with pytest.raises(NotFound, match="v009"):
        allocate_version(engine, new_version(parent_number=9), PROBE, with_outbox=False)


def test_unknown_asset_listing_says_so(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no asset named"):
        list_versions(engine, "NOPE_SQ010_SH0010_comp")


def _race(url: str, processes: int, each: int) -> tuple[Engine, list[int]]:
    """`processes` real processes allocating `each` versions of one asset at once."""
    engine = make_engine(url)
    schema.upgrade(engine)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(allocate_many, [(url, ASSET, each)] * processes)
    return engine, sorted(n for chunk in results for n in chunk)


def test_eight_processes_allocating_on_one_asset_get_1_to_800(pg_url: str) -> None:
    """Under real concurrency on PostgreSQL, numbers are exactly 1..800 with an intact chain."""
    engine, numbers = _race(pg_url, 8, 100)
    assert numbers == list(range(1, 801))
    with engine.connect() as conn:
        rows = conn.execute(select(version_t.c.id, version_t.c.number, version_t.c.parent_id)
                            .order_by(version_t.c.number)).all()
    ids = {r.number: r.id for r in rows}
    assert all(r.parent_id == ids.get(r.number - 1) for r in rows)
    engine.dispose()


def test_four_processes_on_sqlite_also_stay_dense(sqlite_url: str) -> None:
    """The embedded catalog serialises writers too: no duplicate or missing numbers."""
    engine, numbers = _race(sqlite_url, 4, 25)
    assert numbers == list(range(1, 101))
    engine.dispose()


# -- group commit ------------------------------------------------------------------------


def test_a_batch_numbers_every_asset_in_one_transaction(engine: Engine) -> None:
    """Group commit: many assets' versions, jobs and events go in together."""
    assets = [f"TST_SQ010_SH{i:04d}_comp" for i in range(5)]
    made = allocate_versions(engine, [new_version(a) for a in reversed(assets)], PROBE,
                             with_outbox=True)
    assert [(v.asset, v.label) for v in made] == [(a, "v001") for a in reversed(assets)]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(job_t)).scalar() == 5
        assert conn.execute(select(func.count()).select_from(outbox_t)).scalar() == 10


@pytest.mark.parametrize("known", [None, "TST_SQ010_SH0002_comp"])
def test_new_shots_in_a_batch_each_get_their_version_job_and_event_in_order(
        engine: Engine, known: str | None) -> None:
    """A burst of new shots goes in as one statement on PostgreSQL; with a shot among
    them that exists already, all are numbered one by one as before. Either way every
    version keeps its store path, note, job and `version.created` event, and the events
    come in the batch's order."""
    if known:
        allocate_version(engine, new_version(known), PROBE, with_outbox=False)
    assets = [f"TST_SQ010_SH{i:04d}_comp" for i in range(5)]
    made = allocate_versions(engine, [new_version(a, note=f"take of {a}") for a in assets],
                             PROBE, with_outbox=True)
    assert all(isinstance(v, VersionInfo) for v in made)
    assert [(v.asset, v.label, v.note) for v in made] == [
        (a, "v002" if a == known else "v001", f"take of {a}") for a in assets]
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(version_t))}
        jobs = conn.execute(select(job_t.c.version_id)).scalars().all()
        created = conn.execute(select(event_t.c.version_id, event_t.c.payload)
                               .where(event_t.c.name == "version.created")
                               .order_by(event_t.c.id)).all()[1 if known else 0:]
    assert [rows[v.id].store_path for v in made] == [v.store_path for v in made]
    assert sorted(jobs) == sorted(rows)
    assert [(version_id, payload["note"]) for version_id, payload in created] == [
        (v.id, v.note) for v in made]


def test_one_asset_twice_in_a_batch_is_numbered_in_the_order_given(engine: Engine) -> None:
    """`_v001` then `_v002` of one asset in one batch: v001 first, then v002 as its child."""
    made = allocate_versions(engine, [new_version(requested_number=1),
                                      new_version(requested_number=2)], PROBE,
                             with_outbox=False)
    assert [(v.label, v.parent) for v in made] == [("v001", None), ("v002", "v001")]


def test_a_refusal_in_a_batch_undoes_only_itself(engine: Engine) -> None:
    """A duplicate and a taken number among good files: those two are refused, with
    their reasons; every other file of the batch gets its number, and no gap is left."""
    allocate_version(engine, new_version(content="old"), PROBE, with_outbox=False)
    other = "TST_SQ010_SH0020_comp"
    made = allocate_versions(engine, [
        new_version(other), new_version(content="old"), new_version(),
        new_version(requested_number=1), new_version(other)], PROBE, with_outbox=False)
    assert isinstance(made[1], DuplicateContent)
    assert isinstance(made[3], VersionConflict) and made[3].next_number == 3
    assert [(v.asset, v.label) for v in made if isinstance(v, VersionInfo)] == [
        (other, "v001"), (ASSET, "v002"), (other, "v002")]
    assert [v.number for v in list_versions(engine, ASSET)] == [1, 2]


def test_watchers_committing_overlapping_batches_at_once_stay_dense(pg_url: str) -> None:
    """Four processes group-committing versions of the same 20 assets (in different
    orders within each batch) never deadlock, duplicate or skip a number."""
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    assets = [f"TST_SQ010_SH{i:04d}_comp" for i in range(20)]
    orders = [assets, assets[::-1], assets[5:] + assets[:5], assets[::2] + assets[1::2]]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(allocate_batches, [(pg_url, order, 10) for order in orders])
    got = sorted(pair for chunk in results for pair in chunk)
    assert got == sorted((a, n) for a in assets for n in range(1, 41))
    engine.dispose()


def test_a_new_asset_made_by_another_watcher_meanwhile_is_numbered_after_its_version(
        pg_url: str) -> None:
    """Two new shots go in as one statement while another watcher's transaction is making
    one of them: the statement waits for it, finds the shot taken, and the batch is done
    again, so the shot's file goes in after the other watcher's, with nothing left half
    written."""
    engine, other = make_engine(pg_url), make_engine(pg_url, pool_size=1)
    schema.upgrade(engine)
    raced, fresh = "TST_SQ010_SH0001_comp", "TST_SQ010_SH0002_comp"
    with other.connect() as conn:
        held = conn.begin()
        versions._allocate_all(conn, [new_version(raced)], PROBE, with_outbox=False,
                               savepoints=False)
        batch: list[object] = []
        worker = threading.Thread(target=lambda: batch.extend(allocate_versions(
            engine, [new_version(raced), new_version(fresh)], PROBE, with_outbox=False)))
        worker.start()
        wait_for(lambda: _waiting_on_a_lock(other), 10, "the batch to wait for the shot")
        held.commit()
    worker.join(10)
    assert [(v.asset, v.label) for v in batch] == [(raced, "v002"), (fresh, "v001")]
    assert [v.number for v in list_versions(engine, raced)] == [1, 2]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(job_t)).scalar() == 3
    engine.dispose()
    other.dispose()


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar())


def test_a_new_asset_of_a_batch_that_was_done_again_takes_its_next_version_later(
        engine: Engine) -> None:
    """A batch with a new shot's v001 and v002 and a refused file is done twice (the
    second time with a savepoint per file): the shot's id looked up in the first, undone
    attempt is not remembered, so its next file still goes in."""
    allocate_version(engine, new_version(content="old"), PROBE, with_outbox=False)
    shot = "TST_SQ010_SH0001_comp"  # before ASSET: looked up before the refusal
    made = allocate_versions(engine, [new_version(shot), new_version(shot),
                                      new_version(content="old")], PROBE, with_outbox=False)
    assert [v.label for v in made[:2] if isinstance(v, VersionInfo)] == ["v001", "v002"]
    assert allocate_version(engine, new_version(shot), PROBE, with_outbox=False).label == "v003"
