"""Reading over HTTP: the CLI's JSON shapes, pages with a cursor, filters, the schema,
metrics, and the server's life (READY, SIGTERM, started by `axiomd run`)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from axiomd.catalog.versions import allocate_version
from axiomd.review import ReviewState
from tests.helpers import PROBE, new_version, run_cli, wait_for
from tests.web.conftest import Served, free_port

ASSET = "TST_SQ010_SH0010_comp"


def allocate(served: Served, asset: str, count: int) -> None:
    for _ in range(count):
        allocate_version(served.engine, new_version(asset), PROBE, with_outbox=False)


def set_status(served: Served, asset: str, number: int, status: str,
               review: str | None = None) -> None:
    with served.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE version SET status = %(s)s, review = %(r)s WHERE number = %(n)s AND "
            "asset_id = (SELECT id FROM asset WHERE name = %(a)s)",
            {"s": status, "r": review, "n": number, "a": asset})


def test_versions_page_through_with_a_cursor(served: Served) -> None:
    """Newest first, `limit` at a time; following `next_cursor` visits each version once."""
    allocate(served, ASSET, 13)
    allocate(served, "TST_SQ010_SH0020_comp", 12)
    seen, cursor, pages = [], None, 0
    while True:
        page = served.get("/api/v1/versions", params={"limit": 10, **(
            {"cursor": cursor} if cursor else {})}).json()
        pages += 1
        seen += [(v["asset"], v["number"]) for v in page["versions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 25 == len(set(seen))
    assert seen[0] == ("TST_SQ010_SH0020_comp", 12) and seen[-1] == (ASSET, 1)


def test_versions_filter_by_identity_status_and_review(served: Served) -> None:
    """show/seq/shot/task, status and review state narrow the list; review takes an
    action word too."""
    allocate(served, ASSET, 3)
    allocate(served, "TST_SQ010_SH0020_anim", 2)
    set_status(served, ASSET, 2, "complete", ReviewState.APPROVED)
    set_status(served, ASSET, 3, "complete", ReviewState.PENDING_REVIEW)

    def listed(**params: str) -> list[tuple[str, int]]:
        page = served.get("/api/v1/versions", params=params).json()
        return [(v["asset"], v["number"]) for v in page["versions"]]

    assert listed(shot="SH0020") == [("TST_SQ010_SH0020_anim", 2), ("TST_SQ010_SH0020_anim", 1)]
    assert listed(task="comp", status="complete") == [(ASSET, 3), (ASSET, 2)]
    assert listed(review="approved") == listed(review="approve") == [(ASSET, 2)]
    assert listed(show="NOPE") == []
    assert served.get("/api/v1/versions", params={"review": "great"}).status_code == 400


def test_the_shapes_are_the_command_lines(served: Served) -> None:
    """assets, an asset's versions, lineage and jobs answer what `--json` prints, plus
    each version's output URLs."""
    allocate(served, ASSET, 2)
    config = served.config
    cli = {
        "/api/v1/assets": ["assets", "--json"],
        f"/api/v1/assets/{ASSET}/lineage": ["lineage", ASSET, "--json"],
        "/api/v1/jobs": ["jobs", "--json"],
    }
    for path, args in cli.items():
        assert served.get(path).json() == json.loads(
            run_cli(*args, config=config, check=True).stdout), path
    printed = json.loads(run_cli("versions", ASSET, "--json", config=config, check=True).stdout)
    answered = served.get(f"/api/v1/assets/{ASSET}/versions").json()
    assert [{k: v for k, v in a.items() if k not in ("outputs", "url")} for a in answered] == printed
    assert answered[0]["outputs"] == {"proxy": None, "thumbnail": None}


def test_one_version_has_its_jobs_history_and_notes(served: Served) -> None:
    """The version page's JSON: metadata, jobs, review history, notes, by whom."""
    allocate(served, ASSET, 1)
    set_status(served, ASSET, 1, "complete", ReviewState.PENDING_REVIEW)
    url = f"/api/v1/assets/{ASSET}/versions/v001"
    review = served.post(f"{url}/review", "supervisor", json={"action": "cbb", "note": "grain"})
    assert review.status_code == 200, review.text
    assert served.post(f"{url}/notes", "artist", json={"text": "on it"}).status_code == 201
    got = served.get(url).json()
    assert got["review"] == "cbb"
    assert [(h["by"], h["from"], h["to"], h["text"]) for h in got["history"]] == [
        ("supervisor-tok", "pending_review", "cbb", "grain")]
    assert [(n["by"], n["text"]) for n in got["notes"]] == [("artist-tok", "on it")]
    assert [j["preset"] for j in got["jobs"]] == ["probe"]


def test_refusals_are_json_with_the_command_lines_words(served: Served) -> None:
    """Unknown things are 404, an unreviewable version 409, each with the CLI's reason."""
    allocate(served, ASSET, 1)
    missing = served.get(f"/api/v1/assets/{ASSET}/versions/v009")
    assert missing.status_code == 404 and missing.json()["reason"] == f"{ASSET} has no v009"
    early = served.post(f"/api/v1/assets/{ASSET}/versions/v001/review", "supervisor",
                        json={"action": "approve"})
    assert early.status_code == 409 and "only a complete version" in early.json()["reason"]
    bad = served.post(f"/api/v1/assets/{ASSET}/versions/v001/review", "supervisor", json={})
    assert bad.status_code == 422 and "action" in bad.json()["reason"]


def test_derive_and_retry_are_recorded_for_the_admin(served: Served) -> None:
    """derive makes a new version from an old one, by the admin token's name; retry
    says which jobs it requeued."""
    allocate(served, ASSET, 1)
    (served.store / "TST/SQ010/SH0010/comp/v001").mkdir(parents=True)
    (served.store / "TST/SQ010/SH0010/comp/v001/TST_SQ010_SH0010_comp.mov").write_text("x")
    with served.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE version SET store_path = "
                             "'TST/SQ010/SH0010/comp/v001/TST_SQ010_SH0010_comp.mov'")
        conn.exec_driver_sql("UPDATE job SET status = 'failed'")
    made = served.post(f"/api/v1/assets/{ASSET}/derive", "admin", json={"source": "v001"})
    assert made.status_code == 201, made.text
    assert (made.json()["version"], made.json()["parent"], made.json()["submitted_by"]) == (
        "v002", "v001", "admin-tok")
    retried = served.post("/api/v1/jobs/retry", "admin", json={"jobs": [1, 999]}).json()
    assert retried == {"requeued": [1], "not_failed": [999]}


def test_the_openapi_schema_documents_the_api(served: Served) -> None:
    """/api/v1/openapi.json lists every endpoint, the upload as multipart with a file."""
    schema = served.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/v1/versions", "/api/v1/assets/{asset}/versions/{label}",
                 "/api/v1/assets/{asset}/lineage", "/api/v1/jobs", "/api/v1/status",
                 "/api/v1/uploads", "/api/v1/uploads/{upload_id}",
                 "/api/v1/assets/{asset}/versions/{label}/review",
                 "/api/v1/assets/{asset}/versions/{label}/notes",
                 "/api/v1/assets/{asset}/derive", "/api/v1/jobs/retry", "/metrics"):
        assert path in paths, path
    body = paths["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["properties"]["file"]["format"] == "binary"


def test_metrics_are_prometheus_text_from_the_catalog(served: Served) -> None:
    """Jobs by state and kind, queue depth, outbox, job durations, upload outcomes."""
    allocate(served, ASSET, 2)
    with served.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE job SET status = 'done', started_at = now() - interval "
                             "'3 seconds', finished_at = now() WHERE id = 1")
    text = served.get("/metrics").text
    assert 'axiomd_jobs{kind="probe",state="queued"} 1.0' in text
    assert 'axiomd_jobs{kind="probe",state="done"} 1.0' in text
    assert 'axiomd_queue_depth{kind="probe",queue="catalog"} 1.0' in text
    assert 'axiomd_job_duration_seconds_bucket{kind="probe",le="2.0"} 0.0' in text
    assert 'axiomd_job_duration_seconds_bucket{kind="probe",le="5.0"} 1.0' in text
    assert 'axiomd_job_duration_seconds_count{kind="probe"} 1.0' in text
    assert "axiomd_outbox_backlog" in text and "axiomd_outbox_oldest_age_seconds" in text
    assert 'axiomd_versions{state="pending"} 2.0' in text


def test_requests_carry_an_id_into_the_logs(served: Served) -> None:
    """X-Request-Id comes back and names the request's `api.request` log line."""
    response = served.get("/api/v1/jobs", headers={"X-Request-Id": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    wait_for(lambda: any(e.get("event") == "api.request" and e.get("request_id") == "trace-42"
                         and e.get("actor") == "viewer-tok" for e in served.daemon.events()),
             5, "the request's log line")


def test_serve_stops_cleanly_on_sigterm(served: Served) -> None:
    """SIGTERM: exit 0, `api.stopped` logged, its heartbeat row removed."""
    with served.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM heartbeat WHERE role = 'api'").scalar()
    served.daemon.proc.send_signal(signal.SIGTERM)
    assert served.daemon.proc.wait(timeout=30) == 0
    assert any(e.get("event") == "api.stopped" for e in served.daemon.events())
    with served.engine.connect() as conn:
        assert not conn.exec_driver_sql("SELECT count(*) FROM heartbeat WHERE role = 'api'").scalar()


def test_the_heartbeat_stays_fresh_while_the_event_loop_turns(serve) -> None:
    """With a 2 s watchdog the API's heartbeat keeps being written: its event loop
    proves it turns, so the stall guard never withholds it."""
    served = serve(env={"WATCHDOG_USEC": "2000000"})
    with served.engine.connect() as conn:
        since = conn.exec_driver_sql("SELECT now()").scalar_one()

    def beat_after_the_stall_window() -> bool:
        with served.engine.connect() as conn:
            return bool(conn.exec_driver_sql(
                "SELECT seen_at > %(since)s + interval '2.5 seconds' FROM heartbeat "
                "WHERE role = 'api'", {"since": since}).scalar_one())

    wait_for(beat_after_the_stall_window, 10, "a heartbeat written after the 2 s stall window")
    assert not any(e.get("event") == "daemon.loop_stalled" for e in served.daemon.events())


def test_axiomd_run_serves_the_api_when_api_is_set(write_config, daemons, tmp_path: Path) -> None:
    """The embedded default (SQLite, no broker) with `[api] listen` answers on it."""
    port = free_port()
    config = write_config(f"sqlite:///{tmp_path / 'catalog.db'}",
                          extra=f'\n[api]\nlisten = "127.0.0.1:{port}"\n')
    run = daemons(config, "run")

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, "axiomd run to start the API")
    assert run.stop() == 0
    assert not up()
