"""Streaming hash speed and memory against `sha256sum` of the same file, same run."""

from __future__ import annotations

import os
import resource
import subprocess
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
                        note=f"peak RSS grew {grown:.1f} MiB while hashing"))]


if __name__ == "__main__":
    run()
