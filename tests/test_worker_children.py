"""A worker's ffmpeg dies with the worker, even outside systemd."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.config import load_config
from tests.helpers import Daemon, wait_for

ASSET = "TST_SQ010_SH0010_comp"
SLOW_PROXY = """
[transcode.presets.proxy_h264]
kind = "proxy"
x264_preset = "veryslow"
"""


def children_of(pid: int, name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as comm:
                command = comm.read().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and command == name:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killing_a_worker_kills_its_ffmpeg(write_config: Callable[..., Path], tmp_path: Path,
                                           daemons: Callable[..., Daemon]) -> None:
    config = write_config(f"sqlite:///{tmp_path / 'catalog.db'}", extra=SLOW_PROXY,
                          jobs='["proxy_h264"]')
    app = App(load_config(config))
    schema.upgrade(app.engine)
    clip = tmp_path / f"{ASSET}_v001.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1920x1080:rate=24", "-t", "20", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    rule = app.ingestor.rule_for_path(clip, "comp")
    assert app.ingestor.ingest(clip, rule, link=False).status == "accepted"
    worker = daemons(config, "worker")
    wait_for(lambda: children_of(worker.proc.pid, "ffmpeg"), 60, "the worker's ffmpeg")
    [ffmpeg] = children_of(worker.proc.pid, "ffmpeg")
    worker.kill()
    wait_for(lambda: not alive(ffmpeg), 10, "ffmpeg to die with its worker")
    app.close()
