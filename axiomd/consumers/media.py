"""The media jobs: `probe` (technical metadata), `proxy` (H.264 review movie), `thumbnail`.

Every output is written under a hidden temporary name beside its target and renamed
into place only when ffmpeg succeeded, so nobody ever sees half a proxy; a run that is
stopped or fails removes its temporary file. Outputs live in the version's folder:
`…/v003/proxy/<name>.mp4`, `…/v003/thumb/<name>.jpg`.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from axiomd.catalog.jobs import ClaimedJob
from axiomd.consumers.ffmpeg_args import proxy_args, summarize_probe, thumbnail_args
from axiomd.consumers.ffmpeg_run import FFmpegRun
from axiomd.consumers.ffmpeg_run import probe as run_probe
from axiomd.consumers.handlers import JobContext, JobResult
from axiomd.errors import JobFailed
from axiomd.qc import qc_findings
from axiomd.sequences import frame_of, is_sequence


def _frames(pattern: Path) -> list[Path]:
    """A stored sequence's frame files, in frame order."""
    stem = pattern.name.split("#", 1)[0]
    found = [(f.number, p) for p in pattern.parent.glob(f"{stem}*")
             if (f := frame_of(p.name)) is not None]
    return [p for _, p in sorted(found)]


def _sequence(job: ClaimedJob, ctx: JobContext) -> dict[str, Any] | None:
    if not is_sequence(job.store_path):
        return None
    return {"fps": ctx.config.transcode.sequence_fps}


def _probe_source(job: ClaimedJob, ctx: JobContext) -> tuple[Path, dict[str, Any]]:
    source = ctx.store.path(job.store_path)
    return source, summarize_probe(run_probe(source, _sequence(job, ctx)))


def probe(job: ClaimedJob, ctx: JobContext) -> JobResult:
    _, summary = _probe_source(job, ctx)
    spec = ctx.config.qc.get(job.identity.get("show", ""))
    if spec is not None:
        findings = qc_findings(summary, spec)
        if findings and spec.policy == "reject":
            raise JobFailed("QC: " + "; ".join(findings), retryable=False)
        summary["qc"] = {"spec": spec.show, "policy": spec.policy, "warnings": findings}
    return JobResult(outputs={"streams": len(summary.get("streams", []))}, media=summary)


def _output_relpath(job: ClaimedJob, folder: str, ext: str) -> str:
    version_dir = PurePosixPath(job.store_path).parent
    stem = PurePosixPath(job.original_name).stem.split(".")[0]
    return str(version_dir / folder / f"{stem}.{ext}")


@contextmanager
def _atomic_output(final: Path) -> Iterator[Path]:
    """A temporary path beside `final` that becomes `final` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".partial-*-{final.name}"):
        stale.unlink(missing_ok=True)  # left by a worker killed mid-run; this job redoes it
    temp = final.with_name(f".partial-{uuid.uuid4().hex[:8]}-{final.name}")
    try:
        yield temp
        if not temp.is_file() or temp.stat().st_size == 0:
            raise JobFailed(f"ffmpeg wrote no {final.suffix} output", retryable=False)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def _run(args: list[str], ctx: JobContext, duration: float | None) -> None:
    settings = ctx.config.worker
    FFmpegRun(args, duration=duration, timeout=settings.job_timeout_seconds,
              stall_seconds=float(ctx.preset.options.get("stall_seconds", 120)),
              stop=ctx.stop, log=ctx.log).run()


def _render(job: ClaimedJob, ctx: JobContext, folder: str, ext: str, source: Path,
            args_for: Callable[[Path], list[str]], duration: float | None) -> JobResult:
    """Run ffmpeg into a temporary file and put the result in the version's folder."""
    ctx.store.require_space(sum(p.stat().st_size for p in _frames(source))
                            if is_sequence(job.store_path) else source.stat().st_size)
    relpath = _output_relpath(job, folder, ext)
    with _atomic_output(ctx.store.path(relpath)) as temp:
        _run(args_for(temp), ctx, duration)
    return JobResult(outputs={ctx.preset.name: relpath})


def proxy(job: ClaimedJob, ctx: JobContext) -> JobResult:
    source, info = _probe_source(job, ctx)
    options = dict(ctx.preset.options)
    has_audio = any(s.get("type") == "audio" for s in info.get("streams", []))
    with tempfile.TemporaryDirectory(prefix="axiomd-burnin-") as folder:
        burn_in = None
        if options.get("burn_in"):
            burn_in = Path(folder) / "label.txt"
            burn_in.write_text(f"{job.asset} {job.version_label}", encoding="utf-8")
        return _render(job, ctx, "proxy", "mp4", source,
                       lambda out: proxy_args(source, out, options, _sequence(job, ctx),
                                              burn_in=burn_in, has_audio=has_audio),
                       info.get("duration"))


def thumbnail(job: ClaimedJob, ctx: JobContext) -> JobResult:
    source, info = _probe_source(job, ctx)
    options = dict(ctx.preset.options)
    middle = (info.get("duration") or 0.0) / 2
    if is_sequence(job.store_path):
        frames = _frames(source)
        source, middle = frames[len(frames) // 2], 0.0
    return _render(job, ctx, "thumb", str(options.get("format", "jpg")), source,
                   lambda out: thumbnail_args(source, out, options, at_seconds=middle),
                   info.get("duration"))
