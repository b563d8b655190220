"""API tokens and review page sessions.

A token is 32 random bytes shown once; the catalog keeps only its SHA-256, which is
enough for a secret that cannot be guessed (no salt or slow hash needed, unlike a
password). A page session is a second random secret in a cookie, stored hashed too,
tied to its token: revoking the token ends every session made with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from axiomd.access import Role, role_named
from axiomd.catalog.db import transaction
from axiomd.catalog.models import session_t, token_t, utcnow
from axiomd.errors import AxiomdError, NotFound

TOKEN_PREFIX = "axd_"
SESSION_HOURS = 12



class TokenNameTaken(AxiomdError):
    """A live token already has this name."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's name (the actor of every write) and its role."""

    token_id: int
    name: str
    role: Role
    csrf: str | None = None  # set when the caller came in with a page session


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        def ts(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {"name": self.name, "role": self.role, "created_at": ts(self.created_at),
                "revoked_at": ts(self.revoked_at)}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(engine: Engine, name: str, role: str) -> str:
    """A new token for `name`; the secret is returned once and never stored."""
    checked = role_named(role)
    if not name.strip():
        raise AxiomdError("a token needs a name (the person or tool it is for)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def work(conn: Connection) -> None:
        live = conn.execute(select(token_t.c.id).where(
            token_t.c.name == name, token_t.c.revoked_at.is_(None))).first()
        if live is not None:
            raise TokenNameTaken(f"a token named {name!r} exists; revoke it first "
                                 f"(`axiomd token revoke {name}`) or choose another name")
        conn.execute(insert(token_t).values(name=name, role=str(checked), hash=digest(secret),
                                            created_at=utcnow()))

    transaction(engine, work)
    return secret


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(token_t).order_by(token_t.c.name, token_t.c.id))
        return [TokenInfo(r.name, r.role, r.created_at, r.revoked_at)
                for r in rows]


def revoke(engine: Engine, name: str) -> int:
    """Revoke the live token(s) named `name`; NotFound if there is none."""
    with engine.begin() as conn:
        n = conn.execute(update(token_t).where(token_t.c.name == name,
                                               token_t.c.revoked_at.is_(None))
                         .values(revoked_at=utcnow())).rowcount
    if not n:
        raise NotFound(f"no live token named {name!r} (`axiomd token list` shows them)")
    return n


def caller_for_token(engine: Engine, secret: str) -> Caller | None:
    """The live token with this secret, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(token_t).where(token_t.c.hash == digest(secret),
                                                 token_t.c.revoked_at.is_(None))).first()
    return Caller(row.id, row.name, Role(row.role)) if row else None


def open_session(engine: Engine, caller: Caller) -> tuple[str, str]:
    """A page session for `caller`: (cookie secret, CSRF value)."""
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(session_t.delete().where(session_t.c.expires_at < now))
        conn.execute(insert(session_t).values(hash=digest(secret), token_id=caller.token_id,
                                              csrf=csrf, created_at=now,
                                              expires_at=now + timedelta(hours=SESSION_HOURS)))
    return secret, csrf


def caller_for_session(engine: Engine, secret: str) -> Caller | None:
    """The caller behind a live session whose token is not revoked, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(token_t.c.id, token_t.c.name, token_t.c.role, session_t.c.csrf)
            .join(token_t, token_t.c.id == session_t.c.token_id)
            .where(session_t.c.hash == digest(secret), session_t.c.expires_at > utcnow(),
                   token_t.c.revoked_at.is_(None))).first()
    return Caller(row.id, row.name, Role(row.role), row.csrf) if row else None


def close_session(engine: Engine, secret: str) -> None:
    with engine.begin() as conn:
        conn.execute(session_t.delete().where(session_t.c.hash == digest(secret)))
