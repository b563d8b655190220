"""Watcher ingest on PostgreSQL: throughput of a burst, settle→commit latency, memory.

Floor, same run, same burst: a bare watchdog observer that only counts create events.
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
from datetime import datetime
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

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


def _burst(folder: Path, staging: Path, count: int) -> None:
    """Write files aside, then rename them in: the drop sees finished files, all at once."""
    for i in range(count):
        (staging / f"TST_SQ010_SH{i % 10000:04d}_t{i // 10000}_v001.mov").write_bytes(
            os.urandom(512))
    for name in os.listdir(staging):
        os.rename(staging / name, folder / name)


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

        observer = Observer()
        observer.schedule(Count(), str(drop))
        observer.start()
        start = time.perf_counter()
        _burst(drop, staging, count)
        done.wait(120)
        elapsed = time.perf_counter() - start
        observer.stop()
        observer.join()
        return elapsed


def axiomd_burst(count: int, settle: float) -> tuple[float, list[float]]:
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="axb-ingest-") as tmp:
        root = Path(tmp)
        (root / "drop").mkdir()
        (root / "staging").mkdir()
        config = root / "axiomd.toml"
        config.write_text(CONFIG.format(url=url, settle=settle))
        cmd = [sys.executable, "-m", "axiomd", "--config", str(config)]
        subprocess.run([*cmd, "db", "upgrade"], check=True, capture_output=True)
        log = open(root / "watch.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([*cmd, "watch"], stdout=log, stderr=subprocess.STDOUT)
        while b"watch.started" not in (root / "watch.log").read_bytes():
            time.sleep(0.1)
        start = time.perf_counter()
        _burst(root / "drop", root / "staging", count)
        with row_counter(url, "SELECT count(*) FROM version") as versions:
            while versions() < count:
                time.sleep(0.05)
        elapsed = time.perf_counter() - start
        proc.terminate()
        proc.wait()
        log.close()
        settled: dict[str, datetime] = {}
        latencies = []
        for line in (root / "watch.log").read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            if event["event"] == "ingest.settled":
                settled[event["file"]] = stamp
            elif event["event"] == "ingest.accepted" and event["file"] in settled:
                latencies.append((stamp - settled[event["file"]]).total_seconds() * 1000)
        return elapsed, latencies


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
    for count in (1000, 10000):
        floor = bare_watchdog(count)
        elapsed, latencies = axiomd_burst(count, settle=0.2)
        figures.append(show(Figure(
            f"ingest burst of {count:,} small files (PostgreSQL, settle 0.2 s)",
            count / elapsed, "files/s", baseline=count / floor,
            baseline_name="bare watchdog seeing the burst", target="≥ 300 files/s",
            note=f"all versioned in {elapsed:.1f} s")))
        figures.append(show(Figure(
            f"settle→commit latency, {count:,}-file burst, p50", percentile(latencies, 50), "ms",
            note=f"p99 {percentile(latencies, 99):.1f} ms; target p99 ≤ 100 ms")))
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
