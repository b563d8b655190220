"""Streaming hash speed and memory against `sha256sum` of the same file, same run; and a
5 GiB file through `axiomd ingest` against `cp`, with the peak memory it took."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, show

SIZE_MB = 1024


def run() -> list[Figure]:
    from axiomd.store import hash_file

    with tempfile.TemporaryDirectory(prefix="axb-hash-") as folder:
        path = Path(folder) / "big.bin"
        block = os.urandom(1024 * 1024)
        with open(path, "wb") as f:
            for _ in range(SIZE_MB):
                f.write(block)
        subprocess.run(["sha256sum", str(path)], capture_output=True, check=True)  # warm cache
        start = time.perf_counter()
        subprocess.run(["sha256sum", str(path)], capture_output=True, check=True)
        bare = SIZE_MB / (time.perf_counter() - start)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        hash_file(path)
        ours = SIZE_MB / (time.perf_counter() - start)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return [show(Figure(f"hash_file, {SIZE_MB} MiB file", ours, "MiB/s", baseline=bare,
                        baseline_name="sha256sum", target="close to 1.0",
                        note=f"peak RSS grew {grown:.1f} MiB while hashing")), big_ingest()]


if __name__ == "__main__":
    run()


INGEST_GB = 5
INGEST_CONFIG = """
[database]
url = "sqlite:///catalog.db"
[store]
root = "store"
[logging]
format = "json"
level = "warning"
"""


_PEAK_RSS_OF_CHILD = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def big_ingest() -> Figure:
    """`axiomd ingest` of a 5 GiB file: time against `cp` of the same file, and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="axb-big-", dir="/var/tmp") as folder:
        root = Path(folder)
        source = root / "TST_SQ010_SH0010_comp_v001.mov"
        with open(source, "wb") as f:  # real bytes: a sparse file would flatter the copy
            block = os.urandom(4 * 1024 * 1024)
            for _ in range(INGEST_GB * 256):
                f.write(block)
        subprocess.run(["sync"], check=True)  # else the first timed `sync` writes it out too
        config = root / "axiomd.toml"
        config.write_text(INGEST_CONFIG)
        cmd = [sys.executable, "-m", "axiomd", "--config", str(config)]
        subprocess.run([*cmd, "db", "upgrade"], check=True, capture_output=True)
        start = time.perf_counter()
        subprocess.run(["cp", str(source), str(root / "copy.bin")], check=True)
        subprocess.run(["sync"], check=True)
        bare = time.perf_counter() - start
        (root / "copy.bin").unlink()
        start = time.perf_counter()
        # A fresh parent, so the peak it reports is the ingest process's own.
        measured = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS_OF_CHILD, *cmd, "ingest", str(source)],
            check=True, capture_output=True, text=True)
        ours = time.perf_counter() - start
        rss = int(measured.stdout.split()[-1]) / 1024
    return show(Figure(f"axiomd ingest of a {INGEST_GB} GiB file (copy into the store)", ours,
                       "s", baseline=bare, baseline_name="cp + sync of the same file",
                       target="constant memory",
                       note=f"peak RSS of the ingest process {rss:.0f} MiB"))
