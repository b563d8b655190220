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


def started(daemon: Daemon) -> Daemon:
    wait_for(lambda: any(e.get("event") == "watch.started" for e in daemon.events()), 30,
             "the watcher to start")
    return daemon


def versions(engine: Engine) -> list[tuple[str, int, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(asset_t.c.name, version_t.c.number, version_t.c.checksum,
                   version_t.c.store_path)
            .join(asset_t, asset_t.c.id == version_t.c.asset_id)
            .order_by(asset_t.c.name, version_t.c.number))]


def drop_files(folder: Path, names: list[str]) -> dict[str, str]:
    """Write files with unique content; returns name → sha256."""
    sums = {}
    for name in names:
        data = os.urandom(256) + name.encode()
        (folder / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def left_in_drop(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()
            and not p.relative_to(folder).parts[0].startswith(("_", ".axiomd"))]
