"""Reading the catalog over HTTP: the same JSON shapes as the command line's `--json`.

A version's JSON also carries `outputs`: the URL of its proxy and thumbnail on this
server (null until the job that makes it is done).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from axiomd import health
from axiomd.api import Catalog
from axiomd.catalog import browse, jobs, reviews
from axiomd.catalog.events import events_after
from axiomd.catalog.versions import LineageNode, VersionInfo, get_version, list_assets
from axiomd.errors import AxiomdError, NotFound, ReviewRefused
from axiomd.review import review_target
from axiomd.versioning import parse_label
from axiomd.web.auth import Reader

router = APIRouter(prefix="/api/v1", tags=["read"])
IDENTITY_FIELDS = ("show", "seq", "shot", "task")


def media_url(relpath: str | None) -> str | None:
    return f"/media/{quote(relpath)}" if relpath else None


def version_json(version: VersionInfo, outputs: dict[str, str | None] | None) -> dict[str, Any]:
    out = version.to_json()
    out["outputs"] = {kind: media_url(path) for kind, path in (outputs or {}).items()}
    out["url"] = f"/api/v1/assets/{quote(version.asset)}/versions/{version.label}"
    return out


def versions_json(request: Request, versions: list[VersionInfo]) -> list[dict[str, Any]]:
    outputs = browse.outputs_of(request.app.state.axiomd.engine, [v.id for v in versions])
    return [version_json(v, outputs.get(v.id)) for v in versions]


def number(label: str) -> int:
    try:
        return parse_label(label)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc


def _node(node: LineageNode) -> dict[str, Any]:
    return {**node.version.to_json(), "children": [_node(c) for c in node.children]}


@router.get("/assets")
def assets(request: Request, caller: Reader, show: str | None = None, seq: str | None = None,
           shot: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """Assets (as `assets --json`), filtered by identity fields."""
    wanted = {k: v for k, v in zip(IDENTITY_FIELDS, (show, seq, shot, task), strict=True) if v}
    return [a.to_json() for a in list_assets(request.app.state.axiomd.engine)
            if all(a.identity.get(k) == v for k, v in wanted.items())]


@router.get("/versions")
def versions(request: Request, caller: Reader, asset: str | None = None,
             show: str | None = None, seq: str | None = None, shot: str | None = None,
             task: str | None = None, status: str | None = None, review: str | None = None,
             limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 100,
             cursor: str | None = None) -> JSONResponse:
    """Versions newest first, one page at a time: pass `next_cursor` back as `cursor`."""
    try:
        after = int(cursor) if cursor else None
    except ValueError:
        raise AxiomdError(f"cursor {cursor!r} is not one this server gave out") from None
    try:
        state = str(review_target(review)) if review else None
    except ReviewRefused as exc:  # a wrong filter is a bad request, not a refused review
        raise AxiomdError(str(exc)) from None
    where = browse.VersionFilter(
        asset=asset, status=status, review=state,
        identity={k: v for k, v in zip(IDENTITY_FIELDS, (show, seq, shot, task), strict=True)
                  if v})
    page, next_id = browse.versions_page(request.app.state.axiomd.engine, where, limit, after)
    # Built JSON goes out as it is: FastAPI's encoder would walk every value again.
    return JSONResponse({"versions": versions_json(request, page),
                         "next_cursor": str(next_id) if next_id is not None else None})


@router.get("/assets/{asset}/versions")
def asset_versions(request: Request, caller: Reader, asset: str) -> list[dict[str, Any]]:
    """An asset's versions, oldest first (as `versions ASSET --json`)."""
    return versions_json(request, Catalog(request.app.state.axiomd).versions(asset))


@router.get("/assets/{asset}/versions/{label}")
def version(request: Request, caller: Reader, asset: str, label: str) -> dict[str, Any]:
    """One version: metadata (as `show --json`), outputs, jobs, review history, notes."""
    engine = request.app.state.axiomd.engine
    found = get_version(engine, asset, number(label))
    out = versions_json(request, [found])[0]
    out["jobs"] = [j.to_json() for j in browse.jobs_of(engine, found)]
    remarks = reviews.remarks(engine, asset, found.number)
    out["history"] = [r.to_json() for r in remarks if r.kind == "review"]
    out["notes"] = [r.to_json() for r in remarks if r.kind == "note"]
    return out


@router.get("/assets/{asset}/lineage")
def lineage(request: Request, caller: Reader, asset: str) -> list[dict[str, Any]]:
    """The version tree (as `lineage --json`)."""
    return [_node(n) for n in Catalog(request.app.state.axiomd).lineage(asset)]


@router.get("/jobs")
def job_list(request: Request, caller: Reader, status: str | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Jobs newest first (as `jobs --json`)."""
    return [j.to_json() for j in jobs.list_jobs(request.app.state.axiomd.engine, status, limit)]


@router.get("/status")
def status(request: Request, caller: Reader) -> dict[str, Any]:
    """Health (as `status --json`)."""
    axiomd = request.app.state.axiomd
    return health.check(axiomd.config, axiomd.engine).to_json()


@router.get("/events")
def event_list(request: Request, caller: Reader, after: int = 0, asset: str | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """Events with an id above `after`, oldest first (docs/events.md)."""
    return events_after(request.app.state.axiomd.engine, after, limit, asset)
