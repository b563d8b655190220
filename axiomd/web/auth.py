"""Who is calling, and may they: bearer tokens for tools, a cookie for the review page.

A tool sends `Authorization: Bearer <token>`. The page logs in once with a token and
gets a session cookie (HttpOnly, Secure, SameSite=Strict). Writes made with the cookie
must also carry the session's CSRF value in `X-CSRF-Token` (the page reads it from its
own HTML) and, when the browser sends one, a same-origin `Origin`: a form or script on
another site can make the browser send the cookie, but can know neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from axiomd.access import Action, may, refusal
from axiomd.catalog import tokens
from axiomd.catalog.tokens import Caller
from axiomd.log import get_logger

log = get_logger("api")
COOKIE = "axiomd_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

router = APIRouter(include_in_schema=False)


class Refused(HTTPException):
    """401 or 403 with a reason; rendered as JSON by the app's handler."""


def same_origin(request: Request) -> bool:
    """No Origin header (not a browser, or a same-origin GET), or the one we serve."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def identify(request: Request) -> Caller:
    """The caller, or 401. Cookie writes are checked against CSRF here too."""
    engine = request.app.state.axiomd.engine
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Refused(401, "the Authorization header must be `Bearer <token>`")
        caller = tokens.caller_for_token(engine, secret.strip())
        if caller is None:
            raise Refused(401, "this token is not known or was revoked")
    elif cookie := request.cookies.get(COOKIE):
        caller = tokens.caller_for_session(engine, cookie)
        if caller is None:
            raise Refused(401, "the page session ended (or its token was revoked); log in again")
        if request.method in UNSAFE:
            if not same_origin(request):
                raise Refused(403, "a write from another site's page is refused (Origin)")
            if request.headers.get("x-csrf-token") != caller.csrf:
                raise Refused(403, "a page write needs the page's X-CSRF-Token")
    else:
        raise Refused(401, "no token: send `Authorization: Bearer <token>` "
                      "(`axiomd token create --name NAME --role ROLE` makes one)")
    request.scope.setdefault("state", {})["actor"] = caller.name
    return caller


def require(action: Action) -> Callable[[Request], Caller]:
    """A dependency: the caller, if their role may do `action`; else 401/403."""

    def check(request: Request) -> Caller:
        caller = identify(request)
        if not may(caller.role, action):
            raise Refused(403, refusal(caller.name, caller.role, action))
        return caller

    return check


Reader = Annotated[Caller, Depends(require(Action.READ))]


def page_caller(request: Request) -> Caller | None:
    """The page's caller from its cookie, or None (the page then shows the login)."""
    cookie = request.cookies.get(COOKIE)
    caller = tokens.caller_for_session(request.app.state.axiomd.engine, cookie) if cookie else None
    if caller is not None:
        request.scope.setdefault("state", {})["actor"] = caller.name
    return caller


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()],
          next: Annotated[str, Form()] = "/") -> Response:
    """Trade a token for a page session cookie; back to the login page if it is wrong."""
    if not same_origin(request):
        raise Refused(403, "log in from this server's own page")
    engine = request.app.state.axiomd.engine
    caller = tokens.caller_for_token(engine, token.strip())
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    if caller is None:
        log.info("api.login_refused")
        return RedirectResponse("/login?failed=1", status_code=303)
    secret, _csrf = tokens.open_session(engine, caller)
    log.info("api.login", actor=caller.name, role=str(caller.role))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, secret, max_age=tokens.SESSION_HOURS * 3600, httponly=True,
                        secure=True, samesite="strict", path="/")
    return response


@router.post("/logout")
def logout(request: Request, caller: Annotated[Caller, Depends(identify)]) -> Response:
    if cookie := request.cookies.get(COOKIE):
        tokens.close_session(request.app.state.axiomd.engine, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
