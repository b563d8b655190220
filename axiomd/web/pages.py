"""The review page: show → sequence → shot → versions, and one version to review.

Server-rendered Jinja2 HTML; `static/review.js` plays the proxy frame by frame, posts
reviews and notes (with the session's CSRF value), and polls the JSON API every few
seconds so a version that completes or is reviewed shows up without a reload.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from axiomd.catalog import browse, reviews
from axiomd.catalog.tokens import Caller
from axiomd.catalog.versions import get_version, lineage, list_assets
from axiomd.errors import NotFound
from axiomd.web.app import HERE
from axiomd.web.auth import page_caller
from axiomd.web.read import number, version_json

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))
LEVELS = ("show", "sequence", "shot")
POLL_SECONDS = 3


def _page(request: Request, name: str, caller: Caller, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, {
        "caller": caller, "csrf": caller.csrf, "poll_seconds": POLL_SECONDS, **context})


def _login_first(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", failed: int = 0) -> Response:
    return templates.TemplateResponse(request, "login.html", {"next": next, "failed": failed})


@router.get("/", response_class=HTMLResponse)
@router.get("/browse/{path:path}", response_class=HTMLResponse)
def browse_page(request: Request, path: str = "") -> Response:
    """One level of the tree; at the shot level, the shot's versions as a grid."""
    caller = page_caller(request)
    if caller is None:
        return _login_first(request)
    trail = [p for p in path.split("/") if p][: len(LEVELS)]
    assets = [a for a in list_assets(request.app.state.axiomd.engine)
              if list(a.identity.values())[: len(trail)] == trail]
    if trail and not assets:
        raise NotFound(f"nothing under {' / '.join(trail)}")
    crumbs = [("/browse/" + "/".join(quote(p) for p in trail[: i + 1]), p)
              for i, p in enumerate(trail)]
    if len(trail) < len(LEVELS):
        children = browse.tree_level([a.identity for a in assets], trail)
        base = "/browse/" + "".join(quote(p) + "/" for p in trail)
        return _page(request, "browse.html", caller, crumbs=crumbs, level=LEVELS[len(trail)],
                     children=[(base + quote(c), c) for c in children])
    keys = list(assets[0].identity)[: len(trail)]
    query = "&".join(f"{k}={quote(v)}" for k, v in zip(keys, trail, strict=True))
    return _page(request, "shot.html", caller, crumbs=crumbs, query=query,
                 assets=[a.name for a in assets])


@router.get("/v/{asset}/{label}", response_class=HTMLResponse)
def version_page(request: Request, asset: str, label: str) -> Response:
    """One version: the proxy player, metadata, QC findings, lineage, notes, review."""
    caller = page_caller(request)
    if caller is None:
        return _login_first(request)
    engine = request.app.state.axiomd.engine
    found = get_version(engine, asset, number(label))
    outputs = browse.outputs_of(engine, [found.id]).get(found.id)
    identity = next((a.identity for a in list_assets(engine) if a.name == asset), {})
    trail = list(identity.values())[: len(LEVELS)]
    crumbs = [("/browse/" + "/".join(quote(p) for p in trail[: i + 1]), p)
              for i, p in enumerate(trail)]
    media = found.media or {}
    return _page(request, "version.html", caller, crumbs=crumbs, v=found,
                 data=version_json(found, outputs), fps=media.get("fps") or 24,
                 qc=(media.get("qc") or {}).get("warnings", []),
                 tree=lineage(engine, asset),
                 remarks=reviews.remarks(engine, asset, found.number),
                 may_review=caller.role.rank >= 2, may_note=caller.role.rank >= 1)
