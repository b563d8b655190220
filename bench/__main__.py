"""`python -m bench [NAME ...]`: run the benchmarks and rewrite BENCHMARKS.md.

Each benchmark makes its own temporary folders, PostgreSQL database and RabbitMQ vhost,
and measures its baseline in the same run, so the ratios compare like with like.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
import time
from pathlib import Path

from bench.common import Figure, machine

ALL = ["allocate", "ingest", "queue", "transcode", "color", "hashing", "api"]
OUT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def main(names: list[str]) -> None:
    results: dict[str, list[Figure]] = {}
    for name in names or ALL:
        print(f"== {name}", flush=True)
        os.sync()  # the last benchmark's files written back now, not during this one
        time.sleep(2)
        results[name] = importlib.import_module(f"bench.{name}").run()
    if names and set(names) != set(ALL):
        print("(partial run: BENCHMARKS.md left as it is)")
        return
    lines = [
        "# Benchmarks",
        "",
        f"Run with `python -m bench` on {dt.date.today().isoformat()}: {machine()}.",
        "PostgreSQL 15 and RabbitMQ 3.10 on the same machine. Each figure stands beside a "
        "baseline measured in the same run; ratio = figure / baseline.",
        "",
        "| benchmark | figure | baseline (same run) | ratio | target | notes |",
        "|---|---|---|---|---|---|",
    ]
    for figures in results.values():
        lines += [f.line() for f in figures]
    OUT.write_text("\n".join(lines) + "\n" + NOTES)
    print(f"wrote {OUT}")


NOTES = """
## Reading the figures

- **allocate**: `allocate_version` with 3 jobs and 3 outbox rows per version, each its own
  transaction; the baseline is the bare SQL of a locked counter bump plus one insert.
- **ingest**: files written aside before the clock, then renamed into the drop folder at
  once; throughput is from the burst to the last version committed, latency from
  `ingest.settled` to `ingest.accepted` in the watcher's own log; watcher CPU is the
  watchers' user + system time per file over the same span, which moves less than
  files/s from one machine to another. The baseline is bare SQL allocations (8
  processes); the notes add the same file system work done bare in one
  thread, and a bare watchdog observer (on tmpfs) seeing the burst. Each new asset's
  version makes three folders and a receipt. Three places: "disk" is this VM's / (ext4
  without a journal: making an inode there skips, one by one, every inode freed in the
  last minute or more, so its cost follows what was deleted lately, by this section or
  anything before it); "journaled ext4" is a fresh ext4 with its journal (mkfs defaults)
  on a loop device, as a file server is set up, where each folder's fsync waits for a
  journal commit; "tmpfs" (/dev/shm) shows axiomd without any disk cost. The section
  deletes its folders only when it ends, and syncs before each timed step, so no step
  pays for writing back the one before. Exactly once: after the burst and a quiet spell,
  versions = files, no (asset, number) twice, nothing left in the drop folder,
  `_rejected/` or `_duplicates/`. RSS is read from /proc after the start-up scan of 100,000 ignored files.
- **api**: `axiomd serve` over 100,000 versions (and 300,000 done jobs) bulk-inserted in
  SQL; `GET /api/v1/versions` pages mixed as a page and scripts use them, against
  `/healthz` through the same server and client. The upload is sent with `sendfile` to
  axiomd and to a bare socket receiver that writes and fsyncs the bytes on the same disk;
  peak RSS is the server's VmHWM after everything.
- **queue**: the relay and the workers are running and connected first, as in
  production; timed from writing the jobs' outbox rows (one statement) until all are
  done in the catalog. Baseline: raw pika, one confirmed publisher and one prefetch-1
  consumer running together on the same number of messages.
- **transcode**: bare ffmpeg runs the exact command line axiomd ran (its `job.ffmpeg`
  debug event, colour filter, tags and keyframe interval included); axiomd is timed from
  the rename into the drop folder to the version's `complete`, on an embedded `axiomd run`
  (settle 0.2 s). The two alternate; the ratio judged is the median of the pairs' ratios.
- **hashing**: `hash_file` (hashlib, 1 MiB chunks) against coreutils `sha256sum` on the
  same file, warm page cache. The 5 GiB ingest copies (8 MiB writes), hashes and fsyncs;
  its source is synced before either side is timed, so neither pays for writing it.
"""

if __name__ == "__main__":
    main(sys.argv[1:])
