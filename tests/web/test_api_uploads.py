"""Uploads: 202 and a URL to poll; versioned, refused or deduplicated like a dropped file."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.helpers import wait_for
from tests.web.conftest import Served, make_clip

NAME = "TST_SQ010_SH0010_comp_v001.mov"
V1 = "/api/v1/assets/TST_SQ010_SH0010_comp/versions/v001"


def staged(served: Served) -> list[str]:
    folder = served.store / ".staging"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_an_upload_is_accepted_versioned_and_completed(served: Served, daemons, tmp_path: Path
                                                       ) -> None:
    """202 with a Location; polling gives pending, then the version, which a worker
    completes with a proxy and a thumbnail reachable at the URLs in its JSON."""
    clip = make_clip(tmp_path / "clip.mov")
    response = served.upload(clip, NAME, note="first comp")
    assert response.status_code == 202
    location = response.headers["location"]
    assert location.startswith("/api/v1/uploads/") and response.json()["status"] == "pending"
    upload = served.settled_upload(location)
    assert upload["status"] == "accepted"
    version = upload["version"]
    assert (version["asset"], version["version"], version["note"]) == (
        "TST_SQ010_SH0010_comp", "v001", "first comp")
    assert (served.store / version["store_path"]).read_bytes() == clip.read_bytes()
    daemons(served.config, "worker")
    wait_for(lambda: served.get(V1).json()["status"] == "complete", 60, "the version to complete")
    done = served.get(V1).json()
    assert done["review"] == "pending_review"
    for kind, mime in (("proxy", "video/mp4"), ("thumbnail", "image/jpeg")):
        media = served.get(done["outputs"][kind])
        assert media.status_code == 200 and media.headers["content-type"] == mime, kind
    assert staged(served) == []


def test_a_wrongly_named_upload_is_rejected_in_the_drop_folders_words(served: Served,
                                                                        tmp_path: Path) -> None:
    """A bad name is refused with the same note a drop folder writes, and no byte is kept."""
    clip = make_clip(tmp_path / "clip.mov")
    upload = served.settled_upload(served.upload(clip, "tst_bad name.mov").headers["location"])
    assert upload["status"] == "rejected"
    assert upload["note"].startswith("axiomd could not take 'tst_bad name.mov'")
    assert "Names in this folder follow: {show}_{seq}_{shot}_{task}_v{version}.{ext}" in upload["note"]
    assert "Rename the file and drop it in again." in upload["note"]
    assert upload["reason"] in upload["note"]
    assert staged(served) == []
    assert served.get("/api/v1/versions").json()["versions"] == []


def test_a_taken_version_number_is_rejected_with_the_next_free_name(served: Served,
                                                                     tmp_path: Path) -> None:
    """v001 again with new content: refused, naming the name that would be taken now."""
    served.settled_upload(served.upload(make_clip(tmp_path / "a.mov"), NAME).headers["location"])
    other = make_clip(tmp_path / "b.mov", pattern="smptebars")
    upload = served.settled_upload(served.upload(other, NAME).headers["location"])
    assert upload["status"] == "rejected"
    assert "TST_SQ010_SH0010_comp_v002.mov" in upload["note"]
    assert staged(served) == []


def test_the_same_content_again_is_reported_as_a_duplicate(served: Served, tmp_path: Path) -> None:
    """Resubmitted bytes name the version they repeat; nothing new is made."""
    clip = make_clip(tmp_path / "clip.mov")
    served.settled_upload(served.upload(clip, NAME).headers["location"])
    again = served.settled_upload(served.upload(
        clip, "TST_SQ010_SH0010_comp_v002.mov").headers["location"])
    assert (again["status"], again["duplicate_of"]) == ("duplicate", "v001")
    assert again["note"].startswith("axiomd did not make a new version from")
    assert len(served.get("/api/v1/versions").json()["versions"]) == 1


def test_an_empty_file_is_rejected_like_an_empty_drop(served: Served, tmp_path: Path) -> None:
    """0 bytes is a copy that never finished, as in a drop folder."""
    empty = tmp_path / NAME
    empty.write_bytes(b"")
    upload = served.settled_upload(served.upload(empty).headers["location"])
    assert upload["status"] == "rejected" and "is empty (0 bytes)" in upload["note"]


def test_a_form_without_a_file_part_is_400(served: Served) -> None:
    """The reason says what was missing."""
    response = served.post("/api/v1/uploads", "artist", files={"other": ("x.mov", b"abc")})
    assert response.status_code == 400 and "`file` part" in response.json()["reason"]
    plain = served.post("/api/v1/uploads", "artist", content=b"abc")
    assert plain.status_code == 415


def test_an_upload_cut_off_midway_leaves_nothing(served: Served) -> None:
    """The client goes away mid-body: no upload recorded, nothing left in staging."""
    host, port = served.url.removeprefix("http://").split(":")
    boundary = "xyz"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{NAME}\"\r\n\r\n").encode()
    total = len(head) + 20 * 2**20
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"POST /api/v1/uploads HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Authorization: Bearer {served.tokens['artist']}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {total}\r\n\r\n").encode() + head)
        for _ in range(8):
            sock.sendall(b"\0" * 2**20)
        wait_for(lambda: staged(served), 10, "the body to be arriving in staging")
    wait_for(lambda: staged(served) == [], 10, "the partial upload to be discarded")
    with served.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM upload").scalar() == 0


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_large_upload_streams_in_constant_memory(served: Served, tmp_path: Path) -> None:
    """256 MiB through the server raise its peak memory by far less than the file: the
    body goes to the store as it arrives, hashed on the way."""
    big = tmp_path / "TST_SQ010_SH0020_comp_v001.mov"
    with open(big, "wb") as f:
        f.truncate(256 * 2**20)
    pid = served.daemon.proc.pid
    served.get("/api/v1/versions")  # everything imported and warm
    before = _peak_rss_kib(pid)
    with open(big, "rb") as f, served.client("artist", timeout=120) as client:
        response = client.post("/api/v1/uploads", files={"file": (big.name, f)})
    assert response.status_code == 202
    upload = served.settled_upload(response.headers["location"], timeout=120)
    assert upload["status"] == "accepted" and upload["size"] == 256 * 2**20
    grown_mib = (_peak_rss_kib(pid) - before) / 1024
    assert grown_mib < 48, f"peak memory grew {grown_mib:.0f} MiB for a 256 MiB upload"
    assert os.path.getsize(served.store / upload["version"]["store_path"]) == 256 * 2**20


def test_an_upload_id_that_does_not_exist_is_404(served: Served) -> None:
    """Polling a made-up id: 404 as JSON."""
    response = served.get("/api/v1/uploads/nope")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_an_upload_left_pending_by_a_dead_server_is_failed_at_the_next_start(serve) -> None:
    """The server died after staging, before versioning: the next start on this host
    says so on the upload (and its staged bytes are cleared), rather than pending forever."""
    import subprocess
    import sys

    from axiomd.catalog.uploads import LOST
    from axiomd.identity import host
    from axiomd.store import STAGING

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    token = f"{host()}.{dead.pid}.i1234567.abcdef"
    served = serve()
    served.daemon.stop()
    (served.store / STAGING).mkdir(parents=True, exist_ok=True)
    (served.store / STAGING / token).write_bytes(b"half")
    with served.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO upload (id, name, status, by, ingest_token, created_at) VALUES "
            "('u1', 'x.mov', 'pending', 'artist-tok', %(t)s, now())", {"t": token})
    again = serve()
    upload = again.get("/api/v1/uploads/u1").json()
    assert (upload["status"], upload["reason"]) == ("failed", LOST)
    assert staged(again) == []
