"""Review state, history, notes and `latest`, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from axiomd import events
from axiomd.catalog import jobs, reviews, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.events import events_after
from axiomd.catalog.versions import JobSpec, VersionInfo, allocate_version, get_version
from axiomd.errors import NotFound, ReviewRefused
from tests.helpers import Daemon, new_version, run_cli

ASSET = "TST_SQ010_SH0010_comp"
JOBS = [JobSpec("proxy_h264", "proxy"), JobSpec("thumbnail", "thumbnail")]


def completed(engine: Engine, **changes: object) -> VersionInfo:
    """A version whose jobs a worker (here: this test) finished, with proxy and thumbnail."""
    version = allocate_version(engine, new_version(ASSET, **changes), JOBS, with_outbox=False)
    finish_all(engine)
    return get_version(engine, ASSET, version.number)


def finish_all(engine: Engine) -> None:
    """Finish every queued job, each writing its output's path."""
    while (job := jobs.claim_next(engine, "me", 60)) is not None:
        name = f"{job.preset}/{ASSET}_{job.version_label}.{'mp4' if job.kind == 'proxy' else 'jpg'}"
        assert jobs.complete(engine, job.id, "me", outputs={job.preset: name})


def test_a_version_is_pending_review_once_complete_and_not_before(engine: Engine) -> None:
    """The review state is empty while jobs run and `pending_review` once all are done."""
    waiting = allocate_version(engine, new_version(ASSET), JOBS, with_outbox=False)
    assert get_version(engine, ASSET, waiting.number).review is None
    finish_all(engine)
    assert get_version(engine, ASSET, waiting.number).review == "pending_review"


def test_every_review_change_is_kept_in_order_with_who_and_note(engine: Engine) -> None:
    """History keeps each change, from → to, by whom, with its note; the version shows the last."""
    v = completed(engine)
    reviews.review(engine, ASSET, v.number, "cbb", "sup", "edges soft")
    reviews.review(engine, ASSET, v.number, "approve", "lead")
    history = reviews.history(engine, ASSET, v.number)
    assert [(h.from_state, h.to_state, h.by, h.text) for h in history] == [
        ("pending_review", "cbb", "sup", "edges soft"), ("cbb", "approved", "lead", None)]
    assert get_version(engine, ASSET, v.number).review == "approved"


def test_reviewing_a_version_that_is_not_complete_is_refused_saying_so(engine: Engine) -> None:
    """A pending version cannot be approved; the message says it is not complete."""
    waiting = allocate_version(engine, new_version(ASSET), JOBS, with_outbox=False)
    with pytest.raises(ReviewRefused, match="v001 is pending, not complete"):
        reviews.review(engine, ASSET, waiting.number, "approve", "sup")
    assert reviews.history(engine, ASSET, waiting.number) == []


def test_latest_approved_is_the_newest_approved_not_the_newest(engine: Engine) -> None:
    """v001 approved, v002 rejected, v003 pending: latest is v003, latest approved v001."""
    first, second, third = completed(engine), completed(engine), completed(engine)
    reviews.review(engine, ASSET, first.number, "approve", "sup")
    reviews.review(engine, ASSET, second.number, "reject", "sup")
    assert reviews.latest(engine, ASSET).number == third.number
    assert reviews.latest(engine, ASSET, approved=True).number == first.number


def test_latest_approved_without_one_says_how_to_approve(engine: Engine) -> None:
    """No approved version: NotFound, naming the command that approves one."""
    completed(engine)
    with pytest.raises(NotFound, match=r"no approved version.*axiomd review"):
        reviews.latest(engine, ASSET, approved=True)


def test_deriving_from_a_deprecated_version_is_refused_until_it_is_pending_again(
        engine: Engine, write_config: Callable[..., Path], db_url: str, tmp_path: Path) -> None:
    """The stated rule: deprecated versions are not rolled back to; `pending` lifts it."""
    config = write_config(db_url)
    source = tmp_path / f"{ASSET}_v001.txt"
    source.write_text("first")
    run_cli("ingest", str(source), config=config, check=True)
    finish_all(engine)
    engine_v1 = 1
    reviews.review(engine, ASSET, engine_v1, "deprecate", "sup", "wrong plate")
    refused = run_cli("derive", ASSET, "--from", "v001", config=config)
    assert refused.returncode == 1
    assert "v001 is deprecated" in refused.stderr
    assert "axiomd review TST_SQ010_SH0010_comp v001 pending" in refused.stderr
    reviews.review(engine, ASSET, engine_v1, "pending", "sup", "plate was right after all")
    run_cli("derive", ASSET, "--from", "v001", config=config, check=True)


def test_notes_and_review_changes_read_back_together(engine: Engine) -> None:
    """`notes` interleaves notes and review changes of a version, oldest first."""
    v = completed(engine)
    reviews.add_note(engine, ASSET, v.number, "check frame 1012", "ann")
    reviews.review(engine, ASSET, v.number, "reject", "sup", "see note")
    entries = reviews.remarks(engine, ASSET, v.number)
    assert [(e.kind, e.by, e.text) for e in entries] == [
        ("note", "ann", "check frame 1012"), ("review", "sup", "see note")]


def test_review_and_note_record_their_events_with_the_state_at_that_moment(
        engine: Engine) -> None:
    """created, complete, reviewed, noted: each event carries who, status and review."""
    v = completed(engine, submitted_by="alice")
    reviews.review(engine, ASSET, v.number, "approve", "sup", "final")
    reviews.add_note(engine, ASSET, v.number, "sent to client", "prod")
    got = events_after(engine)
    assert [e["event"] for e in got] == [events.CREATED, events.COMPLETE, events.REVIEWED,
                                         events.NOTED]
    created, complete, reviewed, noted = got
    assert (created["status"], created["review"], created["by"]) == ("pending", None, "alice")
    assert created["outputs"] == {"proxy": None, "thumbnail": None}
    assert (complete["status"], complete["review"]) == ("complete", "pending_review")
    assert complete["outputs"] == {
        "proxy": f"proxy_h264/{ASSET}_v001.mp4", "thumbnail": f"thumbnail/{ASSET}_v001.jpg"}
    assert (reviewed["review"], reviewed["previous_review"], reviewed["by"],
            reviewed["note"]) == ("approved", "pending_review", "sup", "final")
    assert (noted["review"], noted["by"], noted["note"]) == ("approved", "prod", "sent to client")
    assert all(e["asset"] == ASSET and e["version"] == "v001" and e["schema"] == 1 for e in got)


def test_a_job_failing_for_good_records_version_failed_once(engine: Engine) -> None:
    """Two jobs failing for good make one `version.failed`, carrying the reason."""
    allocate_version(engine, new_version(ASSET), JOBS, with_outbox=False)
    for _ in JOBS:
        job = jobs.claim_next(engine, "me", 60)
        assert job is not None
        jobs.fail(engine, job.id, "me", "ffmpeg said no", max_attempts=1, retry_delays=[],
                  retryable=False, with_outbox=False)
    failed = [e for e in events_after(engine) if e["event"] == events.FAILED]
    assert len(failed) == 1
    assert failed[0]["status"] == "failed" and "ffmpeg said no" in failed[0]["error"]


@pytest.fixture
def cli(write_config: Callable[..., Path], db_url: str) -> tuple[Path, Engine]:
    config = write_config(db_url)
    engine = make_engine(db_url)
    schema.upgrade(engine)
    return config, engine


def test_cli_review_then_latest_approved_prints_the_store_path(
        cli: tuple[Path, Engine], tmp_path: Path) -> None:
    """`review … approve` then `latest --approved` prints the approved version's file."""
    config, engine = cli
    v1, v2 = completed(engine), completed(engine)
    out = run_cli("review", ASSET, "v001", "approve", "--note", "buyoff", "--by", "sup",
                  config=config, check=True)
    assert "pending_review -> approved" in out.stdout
    approved = run_cli("latest", ASSET, "--approved", config=config, check=True)
    assert approved.stdout.strip() == str(tmp_path / "store" / v1.store_path)
    newest = run_cli("latest", ASSET, "--json", config=config, check=True)
    assert json.loads(newest.stdout)["version"] == v2.label
    listed = run_cli("versions", ASSET, "--review", "approved", "--json", config=config,
                     check=True)
    assert [v["version"] for v in json.loads(listed.stdout)] == ["v001"]
    engine.dispose()


def test_cli_review_of_an_unfinished_version_exits_1_saying_why(
        cli: tuple[Path, Engine]) -> None:
    """The refusal reaches the terminal as one line, exit 1."""
    config, engine = cli
    allocate_version(engine, new_version(ASSET), JOBS, with_outbox=False)
    result = run_cli("review", ASSET, "v001", "approve", config=config)
    assert result.returncode == 1
    assert "only a complete version can be reviewed" in result.stderr
    engine.dispose()


def test_cli_review_by_defaults_to_the_calling_user(cli: tuple[Path, Engine]) -> None:
    """Without --by the history names whoever ran the command."""
    config, engine = cli
    completed(engine)
    run_cli("review", ASSET, "v001", "cbb", config=config, check=True,
            env={"USER": "ignored"})
    import getpass

    [entry] = json.loads(run_cli("notes", ASSET, "v001", "--json", config=config,
                                 check=True).stdout)
    assert entry["by"] == getpass.getuser()
    engine.dispose()


def test_cli_note_and_notes(cli: tuple[Path, Engine]) -> None:
    """`note` keeps a note; `notes ASSET` lists it with the version it belongs to."""
    config, engine = cli
    completed(engine)
    run_cli("note", ASSET, "v001", "grain too strong", "--by", "ann", config=config, check=True)
    out = run_cli("notes", ASSET, config=config, check=True).stdout
    assert "v001" in out and "ann" in out and "grain too strong" in out
    engine.dispose()


def test_ingest_note_and_user_are_stored_and_in_the_event(
        cli: tuple[Path, Engine], tmp_path: Path) -> None:
    """A farm ingesting for an artist: the version and its event name her and the note."""
    config, engine = cli
    source = tmp_path / f"{ASSET}_v001.txt"
    source.write_text("frames")
    run_cli("ingest", str(source), "--note", "first comp", "--user", "alice", config=config,
            check=True)
    shown = json.loads(run_cli("show", ASSET, "v001", "--json", config=config,
                               check=True).stdout)
    assert (shown["submitted_by"], shown["note"]) == ("alice", "first comp")
    lines = run_cli("events", "--json", config=config, check=True).stdout.splitlines()
    [created] = [json.loads(line) for line in lines]
    assert (created["event"], created["by"], created["note"]) == (
        "version.created", "alice", "first comp")
    engine.dispose()


def test_the_readme_publish_script_runs_against_a_real_worker(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon]) -> None:
    """The README's axiomd.api example: ingest for alice, wait for complete, approve, latest."""
    from axiomd.api import Catalog

    config = write_config(sqlite_url, jobs='["noop"]',
                          extra='\n[transcode.presets.noop]\nkind = "noop"\n')
    run_cli("db", "upgrade", config=config, check=True)
    daemons(config, "worker")
    render = tmp_path / "farm" / f"{ASSET}_v001.txt"
    render.parent.mkdir()
    render.write_text("pixels")
    with Catalog.open(config) as catalog:
        v = catalog.ingest(render, note="denoise pass", user="alice")
        catalog.note(v.asset, v.label, "rendered on node r12", by="farm")
        for event in catalog.events(follow=True, asset=v.asset, poll_seconds=0.2):
            if event["version"] == v.label and event["event"] == "version.complete":
                break
        catalog.review(v.asset, v.label, "approve", by="autoqc", note="passed QC")
        path = catalog.path(catalog.latest(v.asset, approved=True))
        assert path == tmp_path / "store" / v.store_path and path.read_text() == "pixels"
        assert catalog.version(v.asset, "v001").submitted_by == "alice"
        assert [r.kind for r in catalog.notes(v.asset)] == ["note", "review"]
