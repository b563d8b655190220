"""Who may do what through the HTTP API. Pure.

Roles are ordered; each may do what the ones before it may:

    viewer      read everything
    artist      + upload files, write notes
    supervisor  + review (approve, reject, cbb, deprecate, pending)
    admin       + retry jobs, derive versions, manage tokens
"""

from __future__ import annotations

from enum import StrEnum

from axiomd.errors import AxiomdError


class Role(StrEnum):
    VIEWER = "viewer"
    ARTIST = "artist"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Action(StrEnum):
    READ = "read"
    UPLOAD = "upload"
    NOTE = "note"
    REVIEW = "review"
    RETRY = "retry"
    DERIVE = "derive"
    TOKENS = "tokens"


LEAST_ROLE: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.UPLOAD: Role.ARTIST,
    Action.NOTE: Role.ARTIST,
    Action.REVIEW: Role.SUPERVISOR,
    Action.RETRY: Role.ADMIN,
    Action.DERIVE: Role.ADMIN,
    Action.TOKENS: Role.ADMIN,
}


class UnknownRole(AxiomdError):
    """A role name that is not one of viewer, artist, supervisor, admin."""


def role_named(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise UnknownRole(f"{name!r} is not a role (one of: {', '.join(Role)})") from None


def may(role: Role, action: Action) -> bool:
    return role.rank >= LEAST_ROLE[action].rank


def refusal(name: str, role: Role, action: Action) -> str:
    """Why a token may not do something, in words its owner can take to an admin."""
    return (f"token {name!r} has role {role}, and {action} needs {LEAST_ROLE[action]} "
            "or higher")
