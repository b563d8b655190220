"""The Python API: what a pipeline tool imports to read and publish versions.

    from axiomd.api import Catalog

    with Catalog.open("/etc/axiomd/axiomd.toml") as catalog:
        v = catalog.ingest("/renders/TST_SQ010_SH0010_comp_v004.mov",
                           note="fixed the edge", user="alice")
        for event in catalog.events(follow=True, asset=v.asset):
            if event["version"] == v.label and event["event"] == "version.complete":
                break  # only a complete version can be reviewed
        catalog.review(v.asset, v.label, "approve", note="final")
        print(catalog.path(catalog.latest(v.asset, approved=True)))

Everything goes through the same code as the command line (which uses this module for
its review, note and event commands), so a script gets the same checks, the same
transactions and the same events. Versions are named by asset and label (`"v003"`, or
the number). Errors are `axiomd.errors` types with messages meant for people.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from axiomd.app import App, open_app
from axiomd.catalog import reviews
from axiomd.catalog.events import events_after, last_event_id
from axiomd.catalog.reviews import Remark
from axiomd.catalog.versions import (
    AssetInfo,
    LineageNode,
    VersionInfo,
    get_version,
    lineage,
    list_assets,
    list_versions,
)
from axiomd.errors import DuplicateContent, NameRejected, NotFound
from axiomd.ingest import current_user
from axiomd.versioning import parse_label

__all__ = ["AssetInfo", "Catalog", "LineageNode", "Remark", "VersionInfo"]

FOLLOW_OVERLAP = 200  # event ids re-read behind the newest when following


def _number(version: str | int) -> int:
    if isinstance(version, int):
        return version
    try:
        return parse_label(version)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc


class Catalog:
    """One axiomd catalog and store, opened from a config file."""

    def __init__(self, app: App) -> None:
        self.app = app

    @classmethod
    def open(cls, config: str | Path | None = None) -> Catalog:
        """Open from a config file (default: `$AXIOMD_CONFIG`, ./config/axiomd.toml,
        /etc/axiomd/axiomd.toml, else the built-in defaults), as the CLI does."""
        return cls(open_app(str(config) if config is not None else None))

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def _with_outbox(self) -> bool:
        return not self.app.config.broker.embedded

    # -- reading -----------------------------------------------------------------------

    def assets(self) -> list[AssetInfo]:
        return list_assets(self.app.engine)

    def versions(self, asset: str, review: str | None = None) -> list[VersionInfo]:
        """An asset's versions, oldest first; only those in one review state with
        `review` (`"approved"`, or the action `"approve"`)."""
        if review is not None:
            return reviews.with_review(self.app.engine, asset, review)
        return list_versions(self.app.engine, asset)

    def version(self, asset: str, version: str | int) -> VersionInfo:
        return get_version(self.app.engine, asset, _number(version))

    def lineage(self, asset: str) -> list[LineageNode]:
        """The version tree: each version under the one it came from."""
        return lineage(self.app.engine, asset)

    def latest(self, asset: str, approved: bool = False) -> VersionInfo:
        """The newest complete version (newest approved with `approved`): what a loader
        opens. NotFound when there is none, saying what there is."""
        return reviews.latest(self.app.engine, asset, approved)

    def path(self, version: VersionInfo) -> Path:
        """Where the version's file (or frame pattern) is in the store."""
        return self.app.store.path(version.store_path)

    def notes(self, asset: str, version: str | int | None = None) -> list[Remark]:
        """Notes and review changes, oldest first."""
        number = None if version is None else _number(version)
        return reviews.remarks(self.app.engine, asset, number)

    def history(self, asset: str, version: str | int) -> list[Remark]:
        """A version's review changes, oldest first."""
        return reviews.history(self.app.engine, asset, _number(version))

    # -- changing ----------------------------------------------------------------------

    def ingest(self, file: str | Path, note: str | None = None, user: str | None = None,
               root: str | None = None) -> VersionInfo:
        """Version one file (copied, not moved), as `axiomd ingest` does. `user` is who
        it is published for (a farm submitting for an artist); default: the file's owner.
        Raises NameRejected or DuplicateContent when no version was made."""
        source = Path(file)
        if not source.is_file():
            raise NotFound(f"{source} is not a file")
        ingestor = self.app.ingestor
        rule = ingestor.rule_for_path(source, root)
        ingestor.recover_staged()
        outcome = ingestor.ingest(source, rule, link=False, note=note, user=user)
        if outcome.version is not None:
            return outcome.version
        if outcome.status == "duplicate" and outcome.duplicate_of:
            asset = ingestor.check_name(source.name, rule).asset
            raise DuplicateContent(outcome.reason, asset, outcome.duplicate_of)
        raise NameRejected(outcome.reason)

    def derive(self, asset: str, source: str | int, by: str | None = None,
               note: str | None = None) -> VersionInfo:
        """Rollback: a new version with `source`'s content and `source` as its parent.
        A deprecated source is refused (review it `pending` first)."""
        return self.app.ingestor.derive(asset, _number(source), by=by or current_user(),
                                        note=note)

    def review(self, asset: str, version: str | int, action: str, by: str | None = None,
               note: str | None = None) -> Remark:
        """`approve`, `reject`, `cbb`, `deprecate` or `pending` a complete version."""
        return reviews.review(self.app.engine, asset, _number(version), action,
                              by or current_user(), note, with_outbox=self._with_outbox)

    def note(self, asset: str, version: str | int, text: str, by: str | None = None) -> Remark:
        return reviews.add_note(self.app.engine, asset, _number(version), text,
                                by or current_user(), with_outbox=self._with_outbox)

    # -- events ------------------------------------------------------------------------

    def events(self, after: int | None = 0, follow: bool = False, poll_seconds: float = 1.0,
               asset: str | None = None) -> Iterator[dict[str, Any]]:
        """Events (docs/events.md) with an id above `after`, oldest first; with `follow`,
        keep waiting for new ones. `after=None` starts at the newest event."""
        start = last_event_id(self.app.engine) if after is None else after
        cursor, seen = start, set[int]()
        while True:
            # Re-read a little behind the newest id seen: on PostgreSQL a lower id can
            # commit after a higher one (docs/events.md).
            since = max(start, cursor - FOLLOW_OVERLAP) if follow else cursor
            batch = [e for e in events_after(self.app.engine, since, asset=asset)
                     if e["id"] not in seen]
            yield from batch
            if batch:
                seen.update(e["id"] for e in batch)
                cursor = max(cursor, *(e["id"] for e in batch))
                seen = {i for i in seen if i > cursor - FOLLOW_OVERLAP}
                continue
            if not follow:
                return
            time.sleep(poll_seconds)
