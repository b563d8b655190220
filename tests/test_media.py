"""Media jobs with real ffmpeg on clips generated here from lavfi sources."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from axiomd.app import App
from axiomd.catalog import jobs, schema
from axiomd.catalog.models import job_t
from axiomd.catalog.versions import get_version, list_versions
from axiomd.config import load_config
from axiomd.consumers.ffmpeg_run import FFmpegRun
from axiomd.errors import JobFailed
from axiomd.log import get_logger
from tests.helpers import (
    ALL_JOBS,
    ASSET,
    Daemon,
    ffprobe,
    ingest,
    make_clip,
    run_all_jobs,
    slow_proxy,
    start_slow_transcode,
    wait_for,
)


@pytest.fixture
def app(write_config: Callable[..., Path], db_url: str) -> App:
    application = App(load_config(write_config(db_url, jobs=ALL_JOBS)))
    schema.upgrade(application.engine)
    return application






# prores_aw writes the same ProRes 422 Proxy stream as prores_ks, several times faster
PRORES = ["-c:v", "prores_aw", "-profile:v", "0"]
SECONDS = 1.0


@pytest.mark.parametrize(
    ("name", "codec", "size"),
    [
        ("v001.mov", PRORES, "1280x720"),
        ("v001.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"],
         "1280x720"),
        ("v001.mov", PRORES, "2050x1002"),
    ],
)
def test_source_gets_an_h264_proxy_a_thumbnail_and_metadata(
        app: App, tmp_path: Path, clip: Callable[..., Path], name: str, codec: list[str],
        size: str) -> None:
    """ProRes or H.264 in, a review proxy out: h264, yuv420p, even size within 1920 wide."""
    source = clip(tmp_path / f"{ASSET}_{name}", size=size, codec=codec, seconds=SECONDS)
    ingest(app, source)
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "complete"
    with app.engine.connect() as conn:
        outputs = {r.preset: r.outputs for r in conn.execute(select(job_t))}
    proxy = app.store.path(outputs["proxy_h264"]["proxy_h264"])
    probe = ffprobe(proxy)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert video["width"] % 2 == 0 and video["height"] % 2 == 0 and video["width"] <= 1920
    assert abs(float(probe["format"]["duration"]) - SECONDS) <= 1 / 24 + 0.03
    assert any(s["codec_type"] == "audio" for s in probe["streams"])
    assert app.store.path(outputs["thumbnail"]["thumbnail"]).stat().st_size > 0
    w, h = (int(x) for x in size.split("x"))
    assert version.media is not None
    assert (version.media["width"], version.media["height"], version.media["fps"]) == (w, h, 24)
    assert version.media["duration"] == pytest.approx(SECONDS, abs=0.1)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "Invalid data"),
        (b"this is a text file, not a movie\n", "Invalid data"),
    ],
)
def test_bad_media_fails_its_jobs_with_ffprobes_reason(app: App, tmp_path: Path,
                                                       content: bytes, reason: str) -> None:
    """Zero bytes or text named .mov: failed jobs with a reason, source kept, no retries."""
    source = tmp_path / f"{ASSET}_v001.mov"
    source.write_bytes(content)
    ingest(app, source)
    run_all_jobs(app)
    failed = jobs.list_jobs(app.engine, "failed")
    assert len(failed) == 3
    assert all(reason in (j.last_error or "") and j.attempts == 1 for j in failed)
    version = list_versions(app.engine, ASSET)[0]
    assert version.status == "failed"
    assert app.store.path(version.store_path).read_bytes() == content


def test_truncated_mp4_fails_and_the_next_version_still_completes(
        app: App, tmp_path: Path, clip: Callable[..., Path]) -> None:
    """A broken file does not harm the worker: the next good file goes through."""
    good = clip(tmp_path / "good.mp4", size="320x240", seconds=1)
    broken = tmp_path / f"{ASSET}_v001.mp4"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    ingest(app, broken)
    fine = tmp_path / f"{ASSET}_v002.mp4"
    fine.write_bytes(good.read_bytes())
    ingest(app, fine)
    run_all_jobs(app)
    statuses = [v.status for v in list_versions(app.engine, ASSET)]
    assert statuses == ["failed", "complete"]


def test_stalled_ffmpeg_is_killed_by_the_no_progress_watchdog(tmp_path: Path) -> None:
    """ffmpeg reading a pipe nobody writes is stopped, its whole process group with it."""
    fifo = tmp_path / "never.yuv"
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR)  # keeps the pipe open so ffmpeg waits forever
    try:
        run = FFmpegRun(["ffmpeg", "-nostdin", "-progress", "pipe:1", "-f", "rawvideo",
                         "-s", "64x64", "-pix_fmt", "gray", "-i", str(fifo), "-f", "null", "-"],
                        duration=None, timeout=60, stall_seconds=1.5, stop=threading.Event(),
                        log=get_logger("test"))
        started = time.monotonic()
        with pytest.raises(JobFailed, match="no progress"):
            run.run()
        assert time.monotonic() - started < 15
    finally:
        os.close(holder)


def test_job_timeout_stops_ffmpeg_and_records_the_failure(tmp_path: Path) -> None:
    """A run longer than the per-job timeout is killed and reported as such."""
    run = FFmpegRun(["ffmpeg", "-nostdin", "-progress", "pipe:1", "-re", "-f", "lavfi",
                     "-i", "testsrc2=size=320x240:rate=24", "-f", "null", "-"],
                    duration=None, timeout=2, stall_seconds=60, stop=threading.Event(),
                    log=get_logger("test"))
    with pytest.raises(JobFailed, match="job timeout"):
        run.run()






def test_worker_killed_mid_transcode_leaves_no_partial_and_job_completes_once(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon]) -> None:
    """kill -9 during the proxy: the lease expires, the job runs again, one proxy, no temp."""
    config_path = write_config(pg_url, jobs='["proxy_h264"]', lease=2,
                               extra=slow_proxy("slower"))
    app, first = start_slow_transcode(config_path, tmp_path, daemons, size="1280x720",
                                      seconds=5)
    first.kill()
    daemons(config_path, "worker")
    wait_for(lambda: get_version(app.engine, ASSET, 1).status == "complete", 300,
             "the proxy after the restart")
    [job] = jobs.list_jobs(app.engine)
    assert (job.status, job.attempts) == ("done", 2)
    assert not list(app.store.root.rglob(".partial-*"))
    assert len(list(app.store.root.rglob("proxy/*.mp4"))) == 1


@pytest.mark.parametrize("with_broker", [False, True], ids=["embedded", "rabbitmq"])
def test_dropped_file_becomes_a_complete_version_with_proxy(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon], request: pytest.FixtureRequest,
        clip: Callable[..., Path], with_broker: bool) -> None:
    """The whole path: drop folder → watcher → queue → worker → complete, both ways."""
    broker = request.getfixturevalue("broker_url") if with_broker else ""
    config_path = write_config(pg_url, broker, jobs=ALL_JOBS)
    app = App(load_config(config_path))
    schema.upgrade(app.engine)
    daemons(config_path, "run")
    source = clip(tmp_path / "clip.mov", size="320x240", seconds=1)
    os.rename(source, tmp_path / "drop" / "comp" / f"{ASSET}_v001.mov")
    wait_for(lambda: list_versions(app.engine, ASSET) if _has_asset(app) else False, 60,
             "the version")
    wait_for(lambda: get_version(app.engine, ASSET, 1).status == "complete", 120,
             "the version to complete")
    assert len(list(app.store.root.rglob("proxy/*.mp4"))) == 1
    assert len(list(app.store.root.rglob("thumb/*.jpg"))) == 1


def _has_asset(app: App) -> bool:
    from axiomd.catalog.versions import list_assets

    return bool(list_assets(app.engine))


def _png_sequence(folder: Path, frames: list[int]) -> list[Path]:
    """Frames rendered aside; the caller moves them into the drop folder at once."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=24", "-frames:v", str(max(frames) - 1000),
                    "-start_number", "1001", str(folder / f"{ASSET}_v001.%04d.png")], check=True)
    keep = []
    for path in sorted(folder.iterdir()):
        number = int(path.name.split(".")[-2])
        if number in frames:
            keep.append(path)
        else:
            path.unlink()
    return keep


def _drop_sequence(frames: list[Path], drop: Path) -> None:
    for frame in frames:
        os.rename(frame, drop / frame.name)


def test_png_sequence_becomes_one_version_with_a_48_frame_proxy(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon]) -> None:
    """48 frames from 1001: one version, frames in its folder, a proxy of 48 frames."""
    config_path = write_config(pg_url, jobs=ALL_JOBS)
    app = App(load_config(config_path))
    schema.upgrade(app.engine)
    daemons(config_path, "run")
    _drop_sequence(_png_sequence(tmp_path / "render", list(range(1001, 1049))),
                   tmp_path / "drop" / "comp")
    wait_for(lambda: _has_asset(app) and get_version(app.engine, ASSET, 1).status == "complete",
             90, "the sequence version to complete")
    assert len(list_versions(app.engine, ASSET)) == 1
    version = get_version(app.engine, ASSET, 1)
    assert version.store_path.endswith("v001/TST_SQ010_SH0010_comp_v001.####.png")
    assert version.media is not None
    assert version.media["sequence"] == {"first": 1001, "last": 1048, "count": 48,
                                         "frames": "1001-1048", "missing": []}
    [proxy] = app.store.root.rglob("proxy/*.mp4")
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                          str(proxy)], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) == 48
    assert len(list(app.store.path(version.store_path).parent.glob("*.png"))) == 48


def test_sequence_with_a_missing_frame_reports_it(
        write_config: Callable[..., Path], pg_url: str, tmp_path: Path,
        daemons: Callable[..., Daemon]) -> None:
    """A gap is recorded on the version and logged, not silently skipped."""
    config_path = write_config(pg_url, jobs='["probe"]')
    app = App(load_config(config_path))
    schema.upgrade(app.engine)
    watcher = daemons(config_path, "watch")
    frames = [n for n in range(1001, 1025) if n != 1010]
    _drop_sequence(_png_sequence(tmp_path / "render", frames), tmp_path / "drop" / "comp")
    wait_for(lambda: _has_asset(app), 60, "the sequence version")
    version = get_version(app.engine, ASSET, 1)
    assert version.media is not None
    assert version.media["sequence"]["missing"] == [1010]
    assert version.media["sequence"]["frames"] == "1001-1009,1011-1024"
    gaps = [e for e in watcher.events() if e.get("event") == "ingest.sequence_gaps"]
    assert gaps and gaps[0]["missing"] == [1010]


def test_burn_in_survives_quotes_colons_and_percent_signs(tmp_path: Path) -> None:
    """The label reaches drawtext through a file, with expansion off: nothing to escape wrongly."""
    from axiomd.consumers.ffmpeg_args import proxy_args

    folder = tmp_path / "it's 50%: done"
    folder.mkdir()
    label = folder / "label.txt"
    label.write_text("TST_SQ010 'v001': 100% %{pts} done")
    clip = make_clip(tmp_path / "clip.mov", size="320x240", seconds=0.5, audio=False)
    out = tmp_path / "proxy.mp4"
    args = proxy_args(clip, out, {"max_width": 320}, burn_in=label, has_audio=False)
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0
