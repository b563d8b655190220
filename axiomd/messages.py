"""The job message: what travels on RabbitMQ. Pure; ids only, the catalog holds the state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from axiomd.errors import MalformedMessage

SCHEMA = 1
ROUTING_PREFIX = "job."
# Job and version ids are the catalog's INTEGER keys: anything outside can name no row,
# and would reach the database only to fail there as if it were an outage.
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class JobMessage:
    job_id: int
    version_id: int
    preset: str
    kind: str
    source: str
    checksum: str

    def to_body(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "job_id": self.job_id,
            "version_id": self.version_id,
            "preset": self.preset,
            "kind": self.kind,
            "source": self.source,
            "checksum": self.checksum,
        }


def routing_key(kind: str) -> str:
    return f"{ROUTING_PREFIX}{kind}"


def decode(raw: bytes) -> JobMessage:
    """Parse a message body, refusing anything that is not a schema-1 job message."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedMessage("body is nested too deeply to be a job message") from exc
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    if data.get("schema") != SCHEMA:
        raise MalformedMessage(f"unknown schema {data.get('schema')!r} (this worker reads {SCHEMA})")
    try:
        return JobMessage(
            job_id=_int(data["job_id"]),
            version_id=_int(data["version_id"]),
            preset=str(data["preset"]),
            kind=str(data["kind"]),
            source=str(data["source"]),
            checksum=str(data["checksum"]),
        )
    except KeyError as exc:
        raise MalformedMessage(f"missing field {exc.args[0]!r}") from exc


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedMessage(f"expected an integer id, got {str(value)[:40]!r}")
    if not 1 <= value <= MAX_ID:
        raise MalformedMessage(f"id {str(value)[:40]} is outside 1..{MAX_ID}")
    return value
