"""Small builders shared by tests; no fixtures here, so subprocesses can import it."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from axiomd.catalog.db import make_engine
from axiomd.catalog.versions import JobSpec, NewVersion, allocate_version
from axiomd.store import version_relpath

PROBE = [JobSpec("probe", "probe")]


def new_version(asset: str = "TST_SQ010_SH0010_comp", content: str | None = None,
                **changes: object) -> NewVersion:
    """A NewVersion for the shot rule's asset with unique content unless given."""
    content = content if content is not None else uuid.uuid4().hex
    show, seq, shot, task = asset.split("_")
    fields: dict[str, object] = {
        "asset": asset,
        "naming": "shot",
        "identity": {"show": show, "seq": seq, "shot": shot, "task": task},
        "checksum": hashlib.sha256(content.encode()).hexdigest(),
        "size": len(content),
        "original_name": f"{asset}.mov",
        "store_path": lambda n: version_relpath([show, seq, shot, task], n, f"{asset}_v{n:03d}.mov"),
    }
    fields.update(changes)
    return NewVersion(**fields)  # type: ignore[arg-type]


def allocate_many(url: str, asset: str, count: int) -> list[int]:
    """Allocate `count` versions in this process; used from subprocesses by the race test."""
    engine = make_engine(url, pool_size=1)
    numbers = [allocate_version(engine, new_version(asset), PROBE, with_outbox=True).number
               for _ in range(count)]
    engine.dispose()
    return numbers


def nothing_claimed(drop: Path) -> bool:
    """No watcher holds a file of this drop root in its claim folder (journals aside):
    once the inputs are gone from the drop folder too, nothing more can happen."""
    claims = drop / ".axiomd" / "staging"
    return not any(p.is_file() and p.name != "claims.jsonl" for p in claims.glob("*/*"))
