"""Store files over HTTP: Range for video, and never a byte from outside the store."""

from __future__ import annotations

import http.client
import os
from pathlib import Path

import pytest

from tests.web.conftest import Served

PROXY = "TST/SQ010/SH0010/comp/v001/proxy/TST_SQ010_SH0010_comp_v001.mp4"
CONTENT = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def media(served: Served) -> Served:
    """A proxy-like file in the store, a secret beside the store, links pointing out."""
    path = served.store / PROXY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT)
    (served.root / "secret.txt").write_text("TOP SECRET")
    os.symlink(served.root / "secret.txt", served.store / "TST" / "leak.txt")
    os.symlink(served.root, served.store / "TST" / "outside")
    (served.store / ".staging").mkdir(exist_ok=True)
    (served.store / ".staging" / "tok").write_text("in flight")
    return served


def raw_get(served: Served, path: str, role: str = "viewer") -> tuple[int, bytes]:
    """GET `path` exactly as written: no client-side normalising of `..` or `%2e`."""
    host, port = served.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Authorization", f"Bearer {served.tokens[role]}")
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def test_a_store_file_is_served_whole_with_accept_ranges(media: Served) -> None:
    """The whole file, its type, and the promise of ranges."""
    response = media.get(f"/media/{PROXY}")
    assert response.status_code == 200 and response.content == CONTENT
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "video/mp4"


RANGES = [("bytes=0-99", 0, 99), ("bytes=10000-", 10000, 10239), ("bytes=-40", 10200, 10239),
          ("bytes=5000-99999", 5000, 10239)]


def test_a_range_is_206_with_exactly_those_bytes(media: Served) -> None:
    """What HTML5 video asks for when it seeks: first bytes, an open end, a suffix, a
    range running past the end."""
    for header, start, end in RANGES:
        response = media.get(f"/media/{PROXY}", headers={"Range": header})
        assert response.status_code == 206, header
        assert response.headers["content-range"] == f"bytes {start}-{end}/{len(CONTENT)}"
        assert response.content == CONTENT[start:end + 1], header


def test_a_range_past_the_end_is_416(media: Served) -> None:
    response = media.get(f"/media/{PROXY}", headers={"Range": "bytes=20000-20010"})
    assert response.status_code == 416


ESCAPES = [
    "/media/../secret.txt",
    "/media/TST/../../secret.txt",
    "/media/%2e%2e/secret.txt",
    "/media/TST/%2E%2E/%2e%2e/secret.txt",
    "/media/..%2fsecret.txt",
    "/media/%2fetc%2fpasswd",
    "/media//etc/passwd",
    "/media/TST/leak.txt",
    "/media/TST/outside/secret.txt",
    "/media/TST/outside/axiomd.toml",
    "/media/.staging/tok",
    "/media/TST%00/leak.txt",
    "/media/TST\\..\\..\\secret.txt",
]


def test_nothing_outside_the_store_is_served(media: Served) -> None:
    """`..` plain or encoded, absolute paths, symlinks out of the store, work in progress:
    all refused, and never the bytes."""
    for path in ESCAPES:
        status, body = raw_get(media, path)
        assert status in (400, 404), (path, status)
        assert b"TOP SECRET" not in body and b"root:" not in body, path
        assert b"in flight" not in body and b"[database]" not in body, path


def test_a_symlink_inside_the_store_to_a_store_file_is_served(media: Served) -> None:
    """Links are judged by where they end up, not refused blindly."""
    os.symlink(media.store / PROXY, media.store / "TST" / "alias.mp4")
    assert media.get("/media/TST/alias.mp4").content == CONTENT


def test_media_needs_a_token(media: Served) -> None:
    assert media.get(f"/media/{PROXY}", role=None).status_code == 401


def test_a_missing_file_is_404(media: Served, tmp_path: Path) -> None:
    assert media.get("/media/TST/none.mp4").status_code == 404
