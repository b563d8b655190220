"""One way to write a moment: UTC, ISO 8601, with a `Z` (JSON, events, logs alike)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def table_time(moment: datetime | None) -> str:
    """For tables, whose headers say (UTC)."""
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
