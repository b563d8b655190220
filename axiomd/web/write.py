"""Changing the catalog over HTTP. The actor of every write is the token's name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from axiomd.access import Action
from axiomd.api import Catalog
from axiomd.catalog import jobs, tokens
from axiomd.catalog.tokens import Caller
from axiomd.log import get_logger
from axiomd.web.auth import require
from axiomd.web.read import number, versions_json

log = get_logger("api")
router = APIRouter(prefix="/api/v1", tags=["write"])

Artist = Annotated[Caller, Depends(require(Action.NOTE))]
Supervisor = Annotated[Caller, Depends(require(Action.REVIEW))]
Retrier = Annotated[Caller, Depends(require(Action.RETRY))]
Deriver = Annotated[Caller, Depends(require(Action.DERIVE))]
TokenAdmin = Annotated[Caller, Depends(require(Action.TOKENS))]


class ReviewBody(BaseModel):
    action: str = Field(description="approve, reject, cbb, deprecate or pending")
    note: str | None = None


class NoteBody(BaseModel):
    text: str


class DeriveBody(BaseModel):
    source: str = Field(description="the version to make current again, e.g. v002")
    note: str | None = None


class RetryBody(BaseModel):
    jobs: list[int] | None = Field(None, description="job ids; omitted: every failed job")


class TokenBody(BaseModel):
    name: str
    role: str


@router.post("/assets/{asset}/versions/{label}/review")
def review(request: Request, caller: Supervisor, asset: str, label: str,
           body: ReviewBody) -> dict[str, Any]:
    """Set a complete version's review state (as `axiomd review`)."""
    remark = Catalog(request.app.state.axiomd).review(asset, number(label), body.action,
                                                        by=caller.name, note=body.note)
    return remark.to_json()


@router.post("/assets/{asset}/versions/{label}/notes", status_code=201)
def note(request: Request, caller: Artist, asset: str, label: str,
         body: NoteBody) -> dict[str, Any]:
    """A note on a version (as `axiomd note`)."""
    return Catalog(request.app.state.axiomd).note(asset, number(label), body.text,
                                                  by=caller.name).to_json()


@router.post("/assets/{asset}/derive", status_code=201)
def derive(request: Request, caller: Deriver, asset: str, body: DeriveBody) -> dict[str, Any]:
    """Rollback: a new version with an old one's content (as `axiomd derive`)."""
    made = Catalog(request.app.state.axiomd).derive(asset, number(body.source), by=caller.name,
                                                    note=body.note)
    return versions_json(request, [made])[0]


@router.post("/jobs/retry")
def retry(request: Request, caller: Retrier, body: RetryBody) -> dict[str, Any]:
    """Put failed jobs back in the queue (as `axiomd retry`)."""
    axiomd = request.app.state.axiomd
    ids = jobs.retry_failed(axiomd.engine, body.jobs,
                            with_outbox=not axiomd.config.broker.embedded)
    log.info("api.retried", actor=caller.name, jobs=ids)
    left = sorted(set(body.jobs or ()) - set(ids))
    return {"requeued": ids, "not_failed": left}


@router.get("/tokens", tags=["tokens"])
def token_list(request: Request, caller: TokenAdmin) -> list[dict[str, Any]]:
    return [t.to_json() for t in tokens.list_tokens(request.app.state.axiomd.engine)]


@router.post("/tokens", tags=["tokens"], status_code=201)
def token_create(request: Request, caller: TokenAdmin, body: TokenBody) -> dict[str, Any]:
    """A new token; its secret is in this answer and nowhere else."""
    secret = tokens.create(request.app.state.axiomd.engine, body.name, body.role)
    log.info("api.token_created", actor=caller.name, name=body.name, role=body.role)
    return {"name": body.name, "role": body.role, "token": secret}


@router.delete("/tokens/{name}", tags=["tokens"])
def token_revoke(request: Request, caller: TokenAdmin, name: str) -> dict[str, Any]:
    revoked = tokens.revoke(request.app.state.axiomd.engine, name)
    log.info("api.token_revoked", actor=caller.name, name=name)
    return {"name": name, "revoked": revoked}
