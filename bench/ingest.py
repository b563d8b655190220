"""Watcher ingest on PostgreSQL: throughput of a burst, settle→commit latency, memory.

Baseline, same run: the bare SQL of a locked counter bump plus an insert, one
transaction each, 8 processes (`bench.allocate.bare_sql_rate`) -- what PostgreSQL itself
allocates on this machine. The burst's files are written aside before the clock starts
and renamed into the drop folder under it, as a copy tool finishing its files does; a
bare watchdog observer seeing the same renames is noted as the floor.
Run alone: `python -m bench.ingest`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
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


def bare_filesystem(count: int, under: str | None = None) -> float:
    """Files/s of the file system work alone that ingesting a new asset's file needs, in
    one thread: claim rename, hard link into staging, read, the store's new folders, the
    rename into place, a receipt, the claim's removal. The floor the disk sets."""
    with tempfile.TemporaryDirectory(prefix="axb-fs-", dir=under) as tmp:
        root = Path(tmp)
        staging, drop, claims = root / "staging", root / "drop", root / "drop/.axiomd/claims"
        store, accepted = root / "store", root / "drop/_accepted"
        for folder in (staging, claims, store / ".staging", accepted):
            folder.mkdir(parents=True)
        _write(staging, count)
        names = os.listdir(staging)
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


def bare_watchdog(count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="axb-wd-") as tmp:
        drop, staging = Path(tmp) / "drop", Path(tmp) / "staging"
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


def axiomd_burst(count: int, settle: float, watchers: int = 1, under: str | None = None) -> Burst:
    with (fresh_database() as url,
          tempfile.TemporaryDirectory(prefix="axb-ingest-", dir=under) as tmp):
        root = Path(tmp)
        (root / "drop").mkdir()
        (root / "staging").mkdir()
        config = root / "axiomd.toml"
        config.write_text(CONFIG.format(url=url, settle=settle))
        cmd = [sys.executable, "-m", "axiomd", "--config", str(config)]
        subprocess.run([*cmd, "db", "upgrade"], check=True, capture_output=True)
        _write(root / "staging", count)
        logs = [root / f"watch{i}.log" for i in range(watchers)]
        procs = []
        for path in logs:
            with open(path, "wb") as out:
                procs.append(subprocess.Popen([*cmd, "watch"], stdout=out,
                                              stderr=subprocess.STDOUT))
        while not all(b"watch.started" in path.read_bytes() for path in logs):
            time.sleep(0.1)
        start = time.perf_counter()
        _move_in(root / "staging", root / "drop")
        with row_counter(url, "SELECT count(*) FROM version") as versions:
            while versions() < count:
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
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
        return Burst(elapsed, _latencies(logs), total, taken_twice, left)


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
    # /tmp is this machine's disk; /dev/shm (tmpfs) shows axiomd without the disk's cost
    # of making files and folders.
    for count, watchers, under in ((1000, 1, None), (10000, 1, None), (10000, 1, "/dev/shm"),
                                   (10000, 2, None)):
        floor = count / bare_watchdog(count)
        disk = bare_filesystem(count, under)
        burst = axiomd_burst(count, settle=0.2, watchers=watchers, under=under)
        who = "one watcher" if watchers == 1 else f"{watchers} watchers on one root"
        where = "tmpfs" if under else "disk"
        exactly_once = (burst.versions == count and burst.numbers_taken_twice == 0
                        and burst.left == 0)
        figures.append(show(Figure(
            f"ingest burst of {count:,} small files, {who}, {where} (PostgreSQL, settle 0.2 s)",
            count / burst.elapsed, "files/s", baseline=bare_sql,
            baseline_name="bare SQL allocations, 8 procs", target="≥ 1,000 files/s",
            note=(f"all versioned in {burst.elapsed:.1f} s; the same file system work bare: "
                  f"{disk:,.0f} files/s; bare watchdog sees the burst at {floor:,.0f} files/s; "
                  f"exactly once: {exactly_once} ({burst.versions} versions, "
                  f"{burst.numbers_taken_twice} numbers twice, {burst.left} files left)"))))
        figures.append(show(Figure(
            f"settle→commit latency, {count:,}-file burst, {who}, {where}, p50",
            percentile(burst.latencies, 50), "ms",
            note=f"p99 {percentile(burst.latencies, 99):.1f} ms; target p99 ≤ 100 ms")))
    rss, cpu = watcher_rss(100_000)
    figures.append(show(Figure("watcher RSS with 100,000 existing files in 100 folders", rss,
                               "MiB", target="≤ 150 MiB", note=f"{cpu:.2f} core while idle")))
    for under, what in (("", "ignored files in the root's folders"),
                        ("_rejected", "files in _rejected/")):
        rss, cpu = watcher_rss(100_000, poll=True, under=under)
        figures.append(show(Figure(f"polled root (poll = true), 100,000 {what}", rss, "MiB",
                                   target="≤ 150 MiB", note=f"{cpu:.2f} core while idle")))
    return figures


if __name__ == "__main__":
    run()
