"""The ASGI app: one FastAPI instance over one `axiomd.app.App` (catalog, store, ingest).

Every response to a failed request is JSON `{"error": ..., "reason": ...}`, with the
reason in the same words the command line prints. Every request gets an id (the
client's `X-Request-Id` if it sent a sane one), bound to every log line it causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from axiomd.app import App
from axiomd.errors import (
    AxiomdError,
    CatalogUnavailable,
    DuplicateContent,
    NameRejected,
    NotFound,
    ReviewRefused,
    StoreError,
)
from axiomd.log import get_logger
from axiomd.web.auth import Reader, page_caller

log = get_logger("api")
HERE = Path(__file__).parent
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                Awaitable[None]]


def error(status: int, kind: str, reason: str, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse({"error": kind, "reason": reason}, status_code=status, headers=headers)


_STATUS: list[tuple[type[AxiomdError], int, str]] = [
    (NotFound, 404, "not_found"),
    (ReviewRefused, 409, "refused"),
    (DuplicateContent, 409, "duplicate"),
    (NameRejected, 422, "rejected"),
    (CatalogUnavailable, 503, "catalog_unavailable"),
    (StoreError, 507, "store_error"),
    (AxiomdError, 400, "bad_request"),
]


def create_app(axiomd: App, tick: Callable[[], None] | None = None) -> FastAPI:
    """The app; `tick` is called every second from the event loop while it runs (the
    heartbeat's proof that the loop turns)."""
    from axiomd.web import auth, media, metrics, pages, read, uploads, write

    @contextlib.asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        async def ticking() -> None:
            while tick is not None:
                tick()
                await asyncio.sleep(1.0)

        ticker = asyncio.create_task(ticking())
        try:
            yield
        finally:
            ticker.cancel()

    api = FastAPI(title="axiomd", version="1", lifespan=lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None,
                  description="Versions, reviews, uploads and media of an axiomd catalog. "
                  "Authenticate with `Authorization: Bearer <token>` "
                  "(`axiomd token create`).")
    api.state.axiomd = axiomd
    api.state.ingest_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload")
    api.state.metrics = metrics.Registry(axiomd)

    @api.exception_handler(AxiomdError)
    async def axiomd_error(_request: Request, exc: AxiomdError) -> JSONResponse:
        for kind, status, name in _STATUS:
            if isinstance(exc, kind):
                return error(status, name, str(exc))
        raise AssertionError("unreachable")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(exc.status_code,
                                                                             "http_error")
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error(exc.status_code, kind, str(exc.detail), headers)

    @api.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error(422, "invalid", where)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for load balancers: the process answers. No token needed."""
        return {"status": "ok"}

    @api.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(caller: Reader) -> JSONResponse:
        """The schema, for a token holder like everything else but /healthz."""
        return JSONResponse(api.openapi())

    @api.get("/api/v1/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        if page_caller(request) is None:
            return RedirectResponse("/login?next=/api/v1/docs", status_code=303)
        return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="axiomd API")

    for router in (auth.router, read.router, write.router, uploads.router, media.router,
                   metrics.router, pages.router):
        api.include_router(router)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    api.add_middleware(RequestLog)  # type: ignore[arg-type]
    return api


class RequestLog:
    """Request id in, `X-Request-Id` out, and one `api.request` log line per request."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _SANE_ID.fullmatch(sent) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500}
        started = time.monotonic()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info("api.request", method=scope["method"], path=scope["path"],
                         status=status["code"], actor=scope["state"].get("actor"),
                         duration_ms=round((time.monotonic() - started) * 1000, 1))
