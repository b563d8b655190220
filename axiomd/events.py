"""Version events: names, the JSON shape (docs/events.md), signatures. Pure, no I/O.

An event row keeps what was true when it happened (status, review state, who, note);
what never changes once set (asset, number, store path, a complete version's outputs)
is joined when the event is read. So every reader — `axiomd events`, RabbitMQ,
webhooks — builds the same JSON for the same event, on every retry.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from axiomd.timestamps import iso_z
from axiomd.versioning import version_label

SCHEMA = 1
CREATED = "version.created"
COMPLETE = "version.complete"
FAILED = "version.failed"
REVIEWED = "version.reviewed"
NOTED = "version.noted"
NAMES = (CREATED, COMPLETE, FAILED, REVIEWED, NOTED)
OUTPUT_KINDS = ("proxy", "thumbnail")


def moment(status: str, review: str | None, by: str, note: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """What an event row stores: the version's state at the moment of the change."""
    return {"status": status, "review": review, "by": by, "note": note,
            **{k: v for k, v in extra.items() if v is not None}}


def outputs_of(jobs: Iterable[tuple[str, Mapping[str, Any] | None]]) -> dict[str, str | None]:
    """`(kind, outputs)` of a version's done jobs → the proxy and thumbnail paths.

    A job's outputs name its file under its preset (`{"proxy_h264": "…/x.mp4"}`); the
    first job of each kind (by id) is the one an event names.
    """
    found: dict[str, str | None] = dict.fromkeys(OUTPUT_KINDS)
    for kind, outputs in jobs:
        if kind in found and found[kind] is None and outputs:
            paths = [v for v in outputs.values() if isinstance(v, str)]
            found[kind] = paths[0] if paths else None
    return found


def render(*, event_id: int, name: str, created_at: datetime, asset: str, number: int,
           parent_number: int | None, store_path: str, payload: Mapping[str, Any],
           outputs: Mapping[str, str | None] | None) -> dict[str, Any]:
    """The event as JSON (schema 1). Outputs are null until the version is complete."""
    extra = {k: v for k, v in payload.items() if k not in ("status", "review", "by", "note")}
    return {
        "schema": SCHEMA,
        "id": event_id,
        "event": name,
        "at": iso_z(created_at),
        "asset": asset,
        "version": version_label(number),
        "number": number,
        "parent": version_label(parent_number) if parent_number else None,
        "status": payload.get("status"),
        "review": payload.get("review"),
        "store_path": store_path,
        "outputs": dict(outputs) if outputs else dict.fromkeys(OUTPUT_KINDS),
        "by": payload.get("by") or "",
        "note": payload.get("note"),
        **extra,
    }


def body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): the same event always gives the same bytes."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, payload: bytes) -> str:
    """`X-Axiomd-Signature` value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def selected(patterns: Sequence[str], name: str) -> bool:
    """Does a subscription (`["*"]`, `["version.complete"]`, `["version.*"]`) take `name`?"""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
