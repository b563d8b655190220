"""Store files over HTTP (proxies, thumbnails, versions), with Range for HTML5 video.

Only regular files inside the store are served: no `..`, no absolute or empty parts, no
hidden parts (`.staging`, `.partial-…` are work in progress), and the resolved path —
after every symlink — must still be inside the store. Every refusal is the same 404, so
probing learns nothing about the disk outside.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from axiomd.errors import NotFound
from axiomd.web.auth import Reader

router = APIRouter(tags=["media"])
TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg", ".png": "image/png"}


def store_file(root: Path, relpath: str) -> Path:
    """The file `relpath` names inside `root`; NotFound for anything else (pure but for
    the file system lookups)."""
    refused = NotFound("not a file of the store")
    if not relpath or relpath.startswith("/") or "\\" in relpath or "\x00" in relpath:
        raise refused
    parts = relpath.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise refused
    real_root = root.resolve()
    try:
        found = (real_root / os.path.join(*parts)).resolve(strict=True)
    except (OSError, RuntimeError):
        raise refused from None
    if not found.is_relative_to(real_root) or not found.is_file():
        raise refused
    return found


@router.get("/media/{relpath:path}")
def media(request: Request, caller: Reader, relpath: str) -> FileResponse:
    """A file of the store by its store path; `Range: bytes=…` answers 206."""
    found = store_file(request.app.state.axiomd.store.root, relpath)
    return FileResponse(found, media_type=TYPES.get(found.suffix.lower()),
                        headers={"Cache-Control": "private, max-age=3600"})
