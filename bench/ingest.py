"""Watcher ingest on PostgreSQL: throughput of a burst, settle→commit latency, memory.

Baseline, same run: the bare SQL of a locked counter bump plus an insert, one
transaction each, 8 processes (`bench.allocate.bare_sql_rate`) -- what PostgreSQL itself
allocates on this machine. The burst's files are written aside before the clock starts
and renamed into the drop folder under it, as a copy tool finishing its files does; a
bare watchdog observer seeing the same renames is noted as the floor.
Run alone: `python -m bench.ingest`.

Where the files live changes the figures more than anything axiomd does, so a burst is
run in three places: this VM's disk (ext4 without a journal, where making a file costs
far more when many were deleted in the last minutes: ext4 then skips each recently
freed inode in turn), a fresh journaled ext4 on a loop device (how a studio's file
server is set up), and tmpfs (no disk cost at all). The section deletes its folders
only at its end, so one burst's clean-up does not slow the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from bench.allocate import bare_sql_rate
from bench.common import Figure, fresh_database, percentile, row_counter, show

CONFIG = """
[database]
url = "{url}"
[store]
root = "store"
[watch]
settle_seconds = {settle}
rescan_seconds = 600
[[watch.roots]]
name = "comp"
path = "drop"
[transcode]
jobs = ["probe"]
[logging]
format = "json"
"""


def _write(staging: Path, count: int) -> None:
    for i in range(count):
        (staging / f"TST_SQ010_SH{i % 10000:04d}_t{i // 10000}_v001.mov").write_bytes(
            os.urandom(512))


def _move_in(staging: Path, folder: Path) -> None:
    """The burst: every finished file renamed into the drop folder at once."""
    for name in os.listdir(staging):
        os.rename(staging / name, folder / name)


def _folder(keep: contextlib.ExitStack, prefix: str, under: str | None = None) -> Path:
    """A temporary folder, deleted when `keep` closes (at the end of the section)."""
    return Path(keep.enter_context(tempfile.TemporaryDirectory(prefix=prefix, dir=under)))


@contextlib.contextmanager
def journaled_ext4(size_gib: int = 4) -> Iterator[str | None]:
    """A fresh ext4 with its journal (mkfs defaults) on a loop device, mounted for the
    section; None where this process may not mount one (not root, no loop devices)."""
    with tempfile.TemporaryDirectory(prefix="axb-ext4-") as tmp:
        image, mount = Path(tmp) / "fs.img", Path(tmp) / "mnt"
        mount.mkdir()
        with open(image, "wb") as f:
            f.truncate(size_gib << 30)
        try:
            subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True,
                           capture_output=True)
            subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            yield None
            return
        try:
            yield str(mount)
        finally:
            subprocess.run(["umount", str(mount)], check=False)


def bare_filesystem(count: int, keep: contextlib.ExitStack, under: str | None = None) -> float:
    """Files/s of the file system work alone that ingesting a new asset's file needs, in
    one thread: claim rename, hard link into staging, read, the store's new folders, the
    rename into place, a receipt, the claim's removal. The floor the disk sets."""
    root = _folder(keep, "axb-fs-", under)
    staging, drop, claims = root / "staging", root / "drop", root / "drop/.axiomd/claims"
    store, accepted = root / "store", root / "drop/_accepted"
    for folder in (staging, claims, store / ".staging", accepted):
        folder.mkdir(parents=True)
    _write(staging, count)
    names = os.listdir(staging)
    os.sync()
    start = time.perf_counter()
    for i, name in enumerate(names):
        os.rename(staging / name, drop / name)
        os.rename(drop / name, claims / name)
        os.link(claims / name, store / ".staging" / name)
        (store / ".staging" / name).read_bytes()
        final = store / "TST" / "SQ010" / f"SH{i:05d}" / "t0" / "v001"
        final.mkdir(parents=True)
        os.rename(store / ".staging" / name, final / name)
        (accepted / f"{name}.txt").write_text("received")
        os.unlink(claims / name)
    return count / (time.perf_counter() - start)


def bare_watchdog(count: int, keep: contextlib.ExitStack) -> float:
    tmp = _folder(keep, "axb-wd-", "/dev/shm")
    drop, staging = tmp / "drop", tmp / "staging"
    drop.mkdir()
    staging.mkdir()
    seen: set[str] = set()
    done = threading.Event()

    class Count(FileSystemEventHandler):
        def on_any_event(self, event: object) -> None:
            seen.add(getattr(event, "dest_path", "") or getattr(event, "src_path", ""))
            if len(seen) >= count:
                done.set()

    _write(staging, count)
    observer = Observer()
    observer.schedule(Count(), str(drop))
    observer.start()
    start = time.perf_counter()
    _move_in(staging, drop)
    done.wait(120)
    elapsed = time.perf_counter() - start
    observer.stop()
    observer.join()
    return elapsed


@dataclass
class Burst:
    elapsed: float
    latencies: list[float]  # settle→commit, ms
    versions: int  # rows in the catalog once the burst is in
    numbers_taken_twice: int  # (asset, number) pairs recorded more than once
    left: int  # files still in the drop folder, claimed, rejected or set aside as duplicates
    cpu_ms_per_file: float  # the watchers' CPU time (user + system) per file, burst to end


def axiomd_burst(count: int, settle: float, keep: contextlib.ExitStack, watchers: int = 1,
                 under: str | None = None) -> Burst:
    with fresh_database() as url:
        root = _folder(keep, "axb-ingest-", under)
        (root / "drop").mkdir()
        (root / "staging").mkdir()
        config = root / "axiomd.toml"
        config.write_text(CONFIG.format(url=url, settle=settle))
        cmd = [sys.executable, "-m", "axiomd", "--config", str(config)]
        subprocess.run([*cmd, "db", "upgrade"], check=True, capture_output=True)
        _write(root / "staging", count)
        # Logs go to tmpfs, as a daemon's go down a pipe to journald: not to the disk under test.
        logs = [_folder(keep, "axb-log-", "/dev/shm") / f"watch{i}.log" for i in range(watchers)]
        procs = []
        for path in logs:
            with open(path, "wb") as out:
                procs.append(subprocess.Popen([*cmd, "watch"], stdout=out,
                                              stderr=subprocess.STDOUT))
        while not all(b"watch.started" in path.read_bytes() for path in logs):
            time.sleep(0.1)
        os.sync()  # the burst's files and the steps before it written back, not during it
        cpu_before = sum(_cpu_seconds(proc.pid) for proc in procs)
        start = time.perf_counter()
        _move_in(root / "staging", root / "drop")
        with row_counter(url, "SELECT count(*) FROM version") as versions:
            while versions() < count:
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            cpu = sum(_cpu_seconds(proc.pid) for proc in procs) - cpu_before
            time.sleep(2 * settle + 1)  # anything taken twice would be in by now
            total = versions()
        with row_counter(url, "SELECT count(*) - count(DISTINCT (asset_id, number)) "
                              "FROM version") as twice:
            taken_twice = twice()
        for proc in procs:
            proc.terminate()
            proc.wait()
        left = sum(1 for p in (root / "drop").rglob("*")
                   if p.is_file() and p.name != "claims.jsonl" and "_accepted" not in p.parts)
        return Burst(elapsed, _latencies(logs), total, taken_twice, left, 1000 * cpu / count)


def _latencies(logs: list[Path]) -> list[float]:
    """settle→commit per file, from the watchers' own `ingest.settled`/`ingest.accepted`."""
    settled: dict[str, datetime] = {}
    latencies = []
    for path in logs:
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            if event["event"] == "ingest.settled":
                settled[event["file"]] = stamp
            elif event["event"] == "ingest.accepted" and event["file"] in settled:
                latencies.append((stamp - settled[event["file"]]).total_seconds() * 1000)
    return latencies


def watcher_rss(files: int, poll: bool = False, under: str = "") -> tuple[float, float]:
    """(RSS in MiB, share of one core) of a watcher over `files` files in 100 folders of
    the drop root (or of `under` in it, e.g. `_rejected`), measured over 8 s of watching."""
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="axb-rss-") as tmp:
        root = Path(tmp)
        for d in range(100):
            sub = root / "drop" / under / f"dir{d:03d}"
            sub.mkdir(parents=True)
            for i in range(files // 100):
                (sub / f"frame.{i:05d}.part").touch()
        config = root / "axiomd.toml"
        text = CONFIG.format(url=url, settle=2.0)
        config.write_text(text.replace('path = "drop"', f'path = "drop"\npoll = {str(poll).lower()}'))
        cmd = [sys.executable, "-m", "axiomd", "--config", str(config)]
        subprocess.run([*cmd, "db", "upgrade"], check=True, capture_output=True)
        proc = subprocess.Popen([*cmd, "watch"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(4)
        cpu_before = _cpu_seconds(proc.pid)
        time.sleep(8)
        cpu = (_cpu_seconds(proc.pid) - cpu_before) / 8
        status = Path(f"/proc/{proc.pid}/status").read_text()
        proc.terminate()
        proc.wait()
        kb = next(int(line.split()[1]) for line in status.splitlines()
                  if line.startswith("VmRSS"))
        return kb / 1024, cpu


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run() -> list[Figure]:
    figures = []
    with fresh_database() as url:
        bare_sql = bare_sql_rate(url)
    with journaled_ext4() as ext4, contextlib.ExitStack() as keep:
        places = {"disk": None, "journaled ext4": ext4, "tmpfs": "/dev/shm"}
        runs = [(1000, 1, "disk"), (10000, 1, "disk"), (10000, 1, "journaled ext4"),
                (10000, 1, "tmpfs"), (10000, 2, "disk"), (10000, 2, "journaled ext4")]
        for count, watchers, where in runs:
            if where == "journaled ext4" and ext4 is None:
                print("(no journaled ext4: this process cannot mount a loop device)")
                continue
            figures += _burst(count, watchers, where, places[where], bare_sql, keep)
    rss, cpu = watcher_rss(100_000)
    figures.append(show(Figure("watcher RSS with 100,000 existing files in 100 folders", rss,
                               "MiB", target="≤ 150 MiB", note=f"{cpu:.2f} core while idle")))
    for under, what in (("", "ignored files in the root's folders"),
                        ("_rejected", "files in _rejected/")):
        rss, cpu = watcher_rss(100_000, poll=True, under=under)
        figures.append(show(Figure(f"polled root (poll = true), 100,000 {what}", rss, "MiB",
                                   target="≤ 150 MiB", note=f"{cpu:.2f} core while idle")))
    return figures


def _burst(count: int, watchers: int, where: str, under: str | None, bare_sql: float,
           keep: contextlib.ExitStack) -> list[Figure]:
    floor = count / bare_watchdog(count, keep)
    disk = bare_filesystem(count, keep, under)
    burst = axiomd_burst(count, settle=0.2, keep=keep, watchers=watchers, under=under)
    who = "one watcher" if watchers == 1 else f"{watchers} watchers on one root"
    figures = []
    exactly_once = (burst.versions == count and burst.numbers_taken_twice == 0
                    and burst.left == 0)
    figures.append(show(Figure(
        f"ingest burst of {count:,} small files, {who}, {where} (PostgreSQL, settle 0.2 s)",
        count / burst.elapsed, "files/s", baseline=bare_sql,
        baseline_name="bare SQL allocations, 8 procs", target="≥ 1,000 files/s",
        note=(f"all versioned in {burst.elapsed:.1f} s; watcher CPU "
              f"{burst.cpu_ms_per_file:.2f} ms/file; the same file system work bare: "
              f"{disk:,.0f} files/s; bare watchdog sees the burst at {floor:,.0f} files/s; "
              f"exactly once: {exactly_once} ({burst.versions} versions, "
              f"{burst.numbers_taken_twice} numbers twice, {burst.left} files left)"))))
    figures.append(show(Figure(
        f"settle→commit latency, {count:,}-file burst, {who}, {where}, p50",
        percentile(burst.latencies, 50), "ms",
        note=f"p99 {percentile(burst.latencies, 99):.1f} ms; target p99 ≤ 100 ms")))
    return figures


if __name__ == "__main__":
    run()
