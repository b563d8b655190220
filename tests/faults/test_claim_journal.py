"""kill -9 while the watcher claims a 1,000-frame sequence and a burst of single files.

A real watcher process on PostgreSQL, killed a few milliseconds after it starts claiming
the sequence (a different moment in each of three rounds, each restart recovering what
the last one held), then a watcher that runs to the end.
Every file must end up exactly once: in the store as part of a version, or never having
left its folder. A claimed frame that recovery puts back under a wrong name, or loses,
shows as a rejected file, a short sequence, or a version count that never arrives.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.versions import VersionInfo, list_assets, list_versions
from tests.helpers import Daemon, wait_for

SEQUENCE = "TST_SQ010_SH0010_comp"
FRAMES = range(1001, 2001)


def _render(render: Path) -> Path:
    """1,000 copies of one 16x16 PNG, named as a sequence, in a folder outside the drop root."""
    render.mkdir(parents=True)
    one = render.parent / "one.png"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=red:s=16x16", "-frames:v", "1", str(one)], check=True)
    for number in FRAMES:
        shutil.copyfile(one, render / f"{SEQUENCE}_v001.{number}.png")
    one.unlink()
    return render


def _singles(folder: Path, first: int, count: int) -> dict[str, str]:
    """Files of distinct assets with unique content; returns relative name → sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for i in range(first, first + count):
        name = f"TST_SQ020_SH{i:04d}_comp_v001.mov"
        data = os.urandom(200) + name.encode()
        (folder / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def _claimed_frames(process_folder: Path) -> int:
    """Frames held in the claim folder of `host.pid` (whatever its start's instance)."""
    return sum(1 for folder in process_folder.parent.glob(f"{process_folder.name}.*")
               for e in os.scandir(folder) if e.name.endswith(".png"))


def _claiming_started(line: bytes) -> bool:
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return event.get("event") == "ingest.settled" and event.get("frames") == len(FRAMES)


def _kill_while_claiming(watcher: Daemon, claim_folder: Path, delay: float,
                         timeout: float) -> int:
    """SIGKILL the watcher `delay` seconds after it starts claiming the sequence.

    The watcher's log says when (the sequence's `ingest.settled`); the claim folder is
    only looked at once the watcher is dead, because listing a folder inside the watched
    root many times a second floods inotify and nothing would ever settle. Returns how
    many frames the dead watcher held.
    """
    deadline = time.monotonic() + timeout
    pending = b""
    with open(watcher.log_path, "rb") as log:
        while time.monotonic() < deadline and not _claiming_started(pending):
            chunk = log.read()
            if not chunk:
                time.sleep(0.001)
                continue
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if any(_claiming_started(line) for line in lines):
                time.sleep(delay)
                break
    watcher.kill()
    return _claimed_frames(claim_folder)


def _in_drop(drop: Path) -> list[Path]:
    """Files still in the drop root or claimed: not set aside, not receipts."""
    return [p for p in drop.rglob("*") if p.is_file() and not p.name.startswith("claims.jsonl")
            and p.relative_to(drop).parts[0] not in ("_rejected", "_duplicates", "_accepted")]


def _everything(engine: Engine) -> dict[str, list[VersionInfo]]:
    return {a.name: list_versions(engine, a.name) for a in list_assets(engine)}


def test_kill_9_while_claiming_a_long_sequence_puts_every_frame_back_or_in_the_store(
        tmp_path: Path, write_config: Callable[..., Path], pg_url: str,
        daemons: Callable[..., Daemon]) -> None:
    """Each of 1,000 frames and every single file ends up once: in a whole version or its folder."""
    config = write_config(pg_url, settle=0.2, sequence_settle=0.4)
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    drop = tmp_path / "drop" / "comp"
    render = _render(tmp_path / "render" / "sub")
    staging = drop / ".axiomd" / "claims"
    host = socket.gethostname()

    sums: dict[str, str] = {}
    held: list[int] = []
    for round_ in range(3):
        watcher = daemons(config, "watch")
        wait_for(lambda w=watcher: any(e.get("event") == "watch.started" for e in w.events()),
                 30, "the watcher to start")
        if round_ == 0:
            os.rename(render, drop / "sub")  # the artist moves the render folder in
        sums |= _singles(drop / ("" if round_ % 2 else "shots"), round_ * 40, 40)
        held.append(_kill_while_claiming(watcher, staging / f"{host}.{watcher.proc.pid}",
                                         (0.005, 0.03, 0.08)[round_], 10))
        watcher.kill()
        if SEQUENCE in _everything(engine):
            break
    assert any(0 < n < len(FRAMES) for n in held), (
        f"the watcher was never caught holding part of the sequence (held {held})")

    daemons(config, "watch")
    expected = len(sums) + 1

    def done() -> bool:
        """Every file is a version, or the watcher has set something aside: nothing more comes."""
        versions = sum(len(v) for v in _everything(engine).values())
        return (versions >= expected and not _in_drop(drop)) or (drop / "_rejected").exists()

    wait_for(done, 40, f"{expected} versions and an empty drop folder")
    everything = _everything(engine)
    rejected = sorted(str(p.relative_to(drop)) for p in (drop / "_rejected").rglob("*.png"))
    assert rejected == [], f"files put back under a wrong name and rejected: {rejected[:10]}"
    assert not (drop / "_duplicates").exists()

    [sequence] = everything.pop(SEQUENCE)
    assert sequence.media is not None
    assert sequence.media["sequence"] == {"first": 1001, "last": 2000, "count": 1000,
                                          "frames": "1001-2000", "missing": []}
    stored = tmp_path / "store" / sequence.store_path
    assert len(list(stored.parent.glob("*.png"))) == 1000

    assert all(len(v) == 1 for v in everything.values()), "a single file became two versions"
    assert sorted(v[0].checksum for v in everything.values()) == sorted(sums.values())
