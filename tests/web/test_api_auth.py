"""Who may do what: tokens, roles, the page's cookie session and CSRF."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import select

from axiomd.catalog.models import token_t
from tests.helpers import run_cli
from tests.web.conftest import Served, make_clip

V1 = "/api/v1/assets/TST_SQ010_SH0010_comp/versions/v001"

# (what, method, path, body) → the least role that may; below it 403, from it not 403.
WRITES = [
    ("upload", "POST", "/api/v1/uploads", None, "artist"),
    ("note", "POST", f"{V1}/notes", {"text": "hi"}, "artist"),
    ("review", "POST", f"{V1}/review", {"action": "approve"}, "supervisor"),
    ("retry", "POST", "/api/v1/jobs/retry", {"jobs": [999]}, "admin"),
    ("derive", "POST", "/api/v1/assets/TST_SQ010_SH0010_comp/derive", {"source": "v001"}, "admin"),
    ("tokens", "GET", "/api/v1/tokens", None, "admin"),
]
ORDER = ["viewer", "artist", "supervisor", "admin"]


def test_healthz_needs_no_token(served: Served) -> None:
    """/healthz is the one thing answered without a token."""
    assert served.get("/healthz", role=None).json() == {"status": "ok"}


def test_everything_else_is_401_without_a_token(served: Served) -> None:
    """No token: 401 as JSON with a reason that says how to get one."""
    for path in ("/api/v1/versions", "/api/v1/assets", "/api/v1/jobs", "/api/v1/status",
                 "/metrics", "/media/x.mov", "/api/v1/uploads/abc", V1, "/api/v1/openapi.json"):
        response = served.get(path, role=None)
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"
        assert "axiomd token create" in response.json()["reason"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert served.post("/api/v1/uploads", role=None).status_code == 401


def test_unknown_and_revoked_tokens_are_401(served: Served) -> None:
    """A made-up token and a revoked one are refused alike, saying so."""
    with httpx.Client(base_url=served.url, headers={"Authorization": "Bearer axd_nope"}) as c:
        assert c.get("/api/v1/versions").status_code == 401
    run_cli("token", "revoke", "viewer-tok", config=served.config, check=True)
    response = served.get("/api/v1/versions", role="viewer")
    assert response.status_code == 401
    assert "revoked" in response.json()["reason"]


def test_every_role_reads(served: Served) -> None:
    """Every role may read versions, jobs, status and metrics."""
    for role in ORDER:
        for path in ("/api/v1/versions", "/api/v1/jobs", "/api/v1/status", "/metrics"):
            assert served.get(path, role=role).status_code == 200, (role, path)


def test_writes_need_their_role(served: Served, tmp_path: Path) -> None:
    """Each write is refused (403, naming the role needed) below its role, and allowed
    from it up."""
    clip = make_clip(tmp_path / "clip.mov")
    assert served.upload(clip, "TST_SQ010_SH0010_comp_v001.mov", role="admin").status_code == 202
    for role, (what, method, path, body, least) in (
            (r, w) for r in ORDER for w in WRITES):
        with served.client(role) as c:
            if what == "upload":
                with open(clip, "rb") as f:
                    response = c.post(path, files={"file": ("TST_SQ010_SH0010_comp_v002.mov", f)})
            else:
                response = c.request(method, path, json=body)
        if ORDER.index(role) < ORDER.index(least):
            assert response.status_code == 403, (what, response.text)
            assert f"needs {least}" in response.json()["reason"]
        else:
            assert response.status_code not in (401, 403), (what, response.text)


def test_writes_record_the_tokens_name(served: Served, tmp_path: Path) -> None:
    """The token's name is the actor: the upload's submitter, the note's and review's author."""
    clip = make_clip(tmp_path / "clip.mov")
    location = served.upload(clip, "TST_SQ010_SH0010_comp_v001.mov", role="artist",
                             note="first pass").headers["location"]
    version = served.settled_upload(location)["version"]
    assert version["submitted_by"] == "artist-tok"
    assert version["note"] == "first pass"
    assert served.post(f"{V1}/notes", role="artist", json={"text": "edge"}).status_code == 201
    notes = served.get(V1).json()["notes"]
    assert [(n["by"], n["text"]) for n in notes] == [("artist-tok", "edge")]


def test_token_command_prints_the_secret_once_and_keeps_only_a_hash(served: Served) -> None:
    """`token create` prints a token that works; the catalog holds its hash, `token list`
    never shows it, `token revoke` ends it."""
    made = run_cli("token", "create", "--name", "alice", "--role", "supervisor",
                   config=served.config, check=True)
    secret = made.stdout.strip()
    assert secret.startswith("axd_") and len(secret) > 40
    with served.engine.connect() as conn:
        stored = conn.execute(select(token_t.c.hash).where(token_t.c.name == "alice")).scalar_one()
    assert secret not in stored and len(stored) == 64
    listed = run_cli("token", "list", "--json", config=served.config, check=True).stdout
    assert secret not in listed
    assert {"name": "alice", "role": "supervisor"}.items() <= next(
        t for t in json.loads(listed) if t["name"] == "alice").items()
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/api/v1/versions").status_code == 200
        run_cli("token", "revoke", "alice", config=served.config, check=True)
        assert c.get("/api/v1/versions").status_code == 401


def test_a_second_live_token_with_the_same_name_is_refused(served: Served) -> None:
    """Names are who did what: two live tokens never share one."""
    again = run_cli("token", "create", "--name", "admin-tok", "--role", "viewer",
                    config=served.config)
    assert again.returncode == 1
    assert "revoke it first" in again.stderr


def _login(served: Served, token: str) -> httpx.Client:
    client = httpx.Client(base_url=served.url, timeout=30)
    response = client.post("/login", data={"token": token, "next": "/"})
    assert response.status_code == 303
    return client


def test_page_login_sets_a_strict_httponly_secure_cookie(served: Served) -> None:
    """Logging in with a token gives a session cookie the page's scripts cannot read."""
    with httpx.Client(base_url=served.url) as client:
        response = client.post("/login", data={"token": served.tokens["viewer"]})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("axiomd_session=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower(), flag
    assert served.tokens["viewer"] not in cookie


def test_a_wrong_token_at_login_goes_back_to_the_login_page(served: Served) -> None:
    """No cookie for a token that is not known."""
    with httpx.Client(base_url=served.url) as client:
        response = client.post("/login", data={"token": "axd_wrong"})
    assert response.status_code == 303 and response.headers["location"] == "/login?failed=1"
    assert "set-cookie" not in response.headers


def test_cookie_writes_need_the_csrf_token_and_same_origin(served: Served, tmp_path: Path) -> None:
    """With the cookie alone a write is 403; with the page's CSRF value it goes through;
    from another Origin it is 403 even with the value."""
    clip = make_clip(tmp_path / "clip.mov")
    served.settled_upload(served.upload(clip, "TST_SQ010_SH0010_comp_v001.mov").headers["location"])
    client = _login(served, served.tokens["artist"])
    # Secure cookies are not sent over plain http by httpx; hand it over as a header.
    cookie = {"Cookie": f"axiomd_session={client.cookies.get('axiomd_session')}"}
    page = client.get("/v/TST_SQ010_SH0010_comp/v001", headers=cookie).text
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    no_csrf = client.post(f"{V1}/notes", json={"text": "x"}, headers=cookie)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["reason"]
    elsewhere = client.post(f"{V1}/notes", json={"text": "x"},
                            headers={**cookie, "X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert elsewhere.status_code == 403 and "Origin" in elsewhere.json()["reason"]
    ok = client.post(f"{V1}/notes", json={"text": "from the page"},
                     headers={**cookie, "X-CSRF-Token": csrf, "Origin": served.url})
    assert ok.status_code == 201, ok.text
    assert ok.json()["by"] == "artist-tok"
    assert client.get("/api/v1/versions", headers=cookie).status_code == 200
    client.close()
