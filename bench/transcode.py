"""Transcode overhead: the proxy job as a bare ffmpeg command vs axiomd end to end.

(a) the exact ffmpeg command line axiomd ran for `proxy_h264` (read from its `job.ffmpeg`
debug event in a first, untimed run), run directly;
(b) the same clip dropped into an embedded `axiomd run` (SQLite, one worker, only the
proxy job), timed from the drop until the version is complete. Same clip, same run,
the two alternating; the ratio is the median of each pair's ratio, which cancels the
machine's load drifting between pairs.
Run alone: `python -m bench.transcode`.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, show

RUNS = 5
CONFIG = """
[store]
root = "store"
[database]
url = "sqlite:///catalog.db"
[watch]
settle_seconds = 0.2
[[watch.roots]]
name = "comp"
path = "drop"
[worker]
concurrency = 1
[transcode]
jobs = ["proxy_h264"]
[logging]
format = "json"
level = "{level}"
"""


def _clip(path: Path, seconds: int) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1920x1080:rate=24", "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)


def bare(command: list[str], out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([*command[:-1], str(out)], check=True, capture_output=True)
    return time.perf_counter() - start


def _roles_up(db: Path) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            roles = {r for (r,) in conn.execute("SELECT role FROM heartbeat")}
    except sqlite3.Error:
        return False
    return {"watcher", "worker"} <= roles


def end_to_end(clip: Path, tmp: Path, index: int, level: str = "warning") -> float:
    run_dir = tmp / f"run{index}"
    (run_dir / "drop").mkdir(parents=True)
    config = run_dir / "axiomd.toml"
    config.write_text(CONFIG.format(level=level))
    with open(run_dir / "axiomd.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "axiomd", "--config", str(config), "run"],
                                stdout=log, stderr=subprocess.STDOUT)
    db = run_dir / "catalog.db"
    while not _roles_up(db):  # the clock starts once watcher and worker are running
        time.sleep(0.1)
    name = f"TST_SQ010_SH{index:04d}_comp_v001{clip.suffix}"
    (run_dir / "staging.mov").write_bytes(clip.read_bytes())
    start = time.perf_counter()
    (run_dir / "staging.mov").rename(run_dir / "drop" / name)
    while True:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT status FROM version").fetchone()
        if row and row[0] in ("complete", "failed"):
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    proc.terminate()
    proc.wait()
    return elapsed


def command_of(clip: Path, tmp: Path) -> list[str]:
    """The ffmpeg command line axiomd runs for this clip's proxy, from a debug-level run."""
    end_to_end(clip, tmp, 0, level="debug")
    for line in (tmp / "run0" / "axiomd.log").read_text().splitlines():
        if '"job.ffmpeg"' in line:
            return list(json.loads(line)["args"])
    raise RuntimeError("the worker logged no job.ffmpeg event")


def run() -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory(prefix="axb-transcode-") as folder:
        tmp = Path(folder)
        for seconds in (10, 1):
            clip = tmp / f"clip{seconds}.mov"
            _clip(clip, seconds)
            command = command_of(clip, tmp / f"first{seconds}")
            bares, ours = [], []
            for i in range(RUNS):  # interleaved, so both see the machine in the same state
                bares.append(bare(command, tmp / f"bare{seconds}-{i}.mp4"))
                ours.append(end_to_end(clip, tmp, seconds * 100 + i))
            a, b = statistics.median(bares), statistics.median(ours)
            ratio = statistics.median(o / x for o, x in zip(ours, bares, strict=True))
            overhead = statistics.median(o - x for o, x in zip(ours, bares, strict=True))
            figures.append(show(Figure(
                f"proxy of a {seconds} s 1080p clip, drop → complete (median of {RUNS})", b, "s",
                baseline=a, baseline_name="bare ffmpeg, the command axiomd ran",
                target="paired ratio ≤ 1.10" if seconds == 10 else "overhead ≤ 1.5 s",
                note=(f"paired: median ratio {ratio:.2f}, median overhead {overhead:.2f} s "
                      "(includes 0.2 s settle)"))))
    return figures


if __name__ == "__main__":
    run()
