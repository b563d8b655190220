"""The media jobs: `probe` (technical metadata), `proxy` (review movie), `thumbnail`.

Every output is written under a hidden temporary name beside its target and renamed
into place only when ffmpeg succeeded and the output was checked against its source
(frame count, duration, a clean decode), so nobody ever sees half a proxy or a wrong one;
a run that is stopped or fails removes its temporary file. Outputs live in the version's
folder: `…/v003/proxy/<name>.mp4` (`.m4a` for a sound file), `…/v003/thumb/<name>.jpg`.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from axiomd.catalog.jobs import ClaimedJob
from axiomd.consumers import exr_header, mp4_index
from axiomd.consumers.checks import (
    OutputFacts,
    bits_per_pixel,
    held_frames,
    is_flat,
    proxy_problems,
    source_is_busy,
)
from axiomd.consumers.context import JobContext, JobResult
from axiomd.consumers.dressing import Dressing, ReviewFields
from axiomd.consumers.ffmpeg_args import (
    Look,
    audio_proxy_args,
    count_args,
    first_frame_args,
    held_frame_name,
    held_frame_pattern,
    proxy_args,
    signalstats_args,
    thumbnail_args,
    thumbnail_time,
    waveform_args,
)
from axiomd.consumers.ffmpeg_run import FFmpegRun, run_quick
from axiomd.consumers.ffmpeg_run import probe as run_probe
from axiomd.consumers.probe_summary import Shape, shape_of, summarize_probe, with_frame_hdr
from axiomd.consumers.review import Output, review_filters
from axiomd.errors import JobFailed
from axiomd.qc import QcSpec, qc_findings, sequence_findings
from axiomd.sequences import frame_of, frame_range, is_sequence


def _frames(pattern: Path) -> list[Path]:
    """A stored sequence's frame files, in frame order."""
    stem = pattern.name.split("#", 1)[0]
    found = [(f.number, p) for p in pattern.parent.glob(f"{stem}*")
             if (f := frame_of(p.name)) is not None]
    return [p for _, p in sorted(found)]


@dataclass(frozen=True)
class Source:
    """A version's file (or frames) with what ffprobe and the headers said about it."""

    path: Path
    summary: dict[str, Any]
    shape: Shape
    frames: tuple[tuple[int, Path], ...] = ()  # (number, file) of a sequence

    @property
    def missing(self) -> list[int]:
        return list(frame_range(n for n, _ in self.frames).missing) if self.frames else []


def _source(job: ClaimedJob, ctx: JobContext) -> Source:
    path = ctx.store.path(job.store_path)
    if not is_sequence(job.store_path):
        summary = summarize_probe(run_probe(path))
        if summary.get("hdr", {}).get("transfer"):
            summary = with_frame_hdr(summary, json.loads(
                run_quick(first_frame_args(path), "first frame's HDR metadata")))
        if path.suffix.lower() == ".exr":
            _add_exr(summary, path)
        return Source(path, summary, shape_of(summary))
    fps = ctx.config.transcode.sequence_fps
    numbered = [(f.number, p) for p in _frames(path) if (f := frame_of(p.name)) is not None]
    if not numbered:
        raise JobFailed(f"no frames of {path.name} are in the store", retryable=False)
    summary = summarize_probe(run_probe(path, {"fps": fps}),
                              {"first": numbered[0][0], "last": numbered[-1][0], "fps": fps})
    summary["size"] = sum(p.stat().st_size for _, p in numbered)
    if path.suffix.lower() == ".exr":
        _add_exr(summary, numbered[0][1])
    return Source(path, summary, shape_of(summary), tuple(numbered))


def _add_exr(summary: dict[str, Any], file: Path) -> None:
    header = exr_header.read(file)
    if header and "pixel_type" in header:
        summary["exr"] = header
        summary["pixel_type"] = header["pixel_type"]


def probe(job: ClaimedJob, ctx: JobContext) -> JobResult:
    source = _source(job, ctx)
    summary = source.summary
    spec = ctx.config.qc.get(job.identity.get("show", ""))
    findings = sequence_findings(source.missing)
    if spec is not None:
        findings = qc_findings(summary, spec) + findings
    if spec is not None and findings and spec.policy == "reject":
        raise JobFailed("QC: " + "; ".join(findings), retryable=False)
    if spec is not None or findings:
        summary["qc"] = _qc_record(spec, findings)
    return JobResult(outputs={"streams": len(summary.get("streams", []))}, media=summary)


def _qc_record(spec: QcSpec | None, findings: list[str]) -> dict[str, Any]:
    return {"spec": spec.show if spec else None, "policy": spec.policy if spec else "warn",
            "warnings": findings}


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


def _render(job: ClaimedJob, ctx: JobContext, folder: str, ext: str, source: Source,
            args_for: Callable[[Path], list[str]],
            check: Callable[[Path], None] | None = None) -> str:
    """Run ffmpeg into a temporary file, check it, and put it in the version's folder."""
    ctx.store.require_space(sum(p.stat().st_size for _, p in source.frames)
                            if source.frames else source.path.stat().st_size)
    relpath = _output_relpath(job, folder, ext)
    with _atomic_output(ctx.store.path(relpath)) as temp:
        _run(args_for(temp), ctx, source.shape.duration)
        if check is not None:
            check(temp)
    return relpath


def _counted(output: Path) -> OutputFacts:
    """What the proxy holds, from its own index; ffprobe counts what that does not read."""
    found = mp4_index.tracks(output)
    if found is None:
        found = _probed_tracks(output)
    video = next((t for t in found if t.kind == "video"), None)
    audio = [t for t in found if t.kind == "audio"]
    return OutputFacts(
        video_frames=video.samples if video else None,
        video_duration=video.duration if video else None,
        audio_duration=audio[0].duration if audio else None,
        audio_tracks=len(audio))


def _probed_tracks(output: Path) -> list[mp4_index.Track]:
    def number(value: Any, kind: type) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            return None

    streams = json.loads(run_quick(count_args(output), "proxy")).get("streams", [])
    return [mp4_index.Track(str(s.get("codec_type")), number(s.get("nb_read_packets"), int),
                            number(s.get("duration"), float)) for s in streams]


def _check_proxy(shape: Shape) -> Callable[[Path], None]:
    def check(output: Path) -> None:
        problems = proxy_problems(shape, _counted(output))
        if problems:
            raise JobFailed("the proxy does not match its source: " + "; ".join(problems),
                            retryable=False)
    return check


def proxy(job: ClaimedJob, ctx: JobContext) -> JobResult:
    source = _source(job, ctx)
    shape = source.shape
    options = dict(ctx.preset.options)
    if shape.kind == "audio":
        relpath = _render(job, ctx, "proxy", "m4a", source,
                          lambda out: audio_proxy_args(source.path, out, options,
                                                       shape.audio_tracks),
                          _check_proxy(shape))
        return JobResult(outputs={ctx.preset.name: relpath})
    expected = shape  # what the proxy must show; mixed tracks become one
    if not options.get("audio", True):
        expected = replace(shape, audio_tracks=0)
    elif options.get("audio") == "mix" and shape.audio_tracks > 1:
        expected = replace(shape, audio_tracks=1)
    with tempfile.TemporaryDirectory(prefix="axiomd-proxy-") as folder:
        look = _look(job, ctx, source, "proxy", Path(folder))
        sequence = _held_sequence(source, Path(folder), ctx) if source.frames else None
        relpath = _render(job, ctx, "proxy", "mp4", source,
                          lambda out: proxy_args(source.path, out, options, sequence,
                                                 has_audio=shape.audio_tracks > 0,
                                                 parity=shape.parity,
                                                 audio_tracks=shape.audio_tracks,
                                                 look=look.args),
                          _check_proxy(expected))
    return JobResult(outputs={ctx.preset.name: relpath}, media={"color": look.record})


@dataclass(frozen=True)
class _Look:
    args: Look
    record: dict[str, Any]


def _look(job: ClaimedJob, ctx: JobContext, source: Source, output: Output,
          text_folder: Path | None = None) -> _Look:
    """Colour management (OCIO for images, tags for video) and, for a proxy, the dressing:
    burn-ins, slate, keyframes, the background behind alpha."""
    options = ctx.preset.options
    ext = PurePosixPath(job.store_path).suffix.lstrip(".").lower()
    numbers = [n for n, _ in source.frames]
    fields = ReviewFields(
        asset=job.asset, version=job.version_label,
        first_frame=numbers[0] if numbers else 1001,
        last_frame=numbers[-1] if numbers else None,
        fps=float(source.summary.get("fps") or ctx.config.transcode.sequence_fps),
        timecode=source.summary.get("timecode"),
        date=datetime.now(UTC).strftime("%Y-%m-%d"), show=job.identity.get("show", ""))
    dressing = (Dressing.from_options(options, f"transcode.presets.{ctx.preset.name}")
                if output == "proxy" else None)
    from axiomd.color import review_settings  # numpy + OpenColorIO: only jobs with a look pay

    review = review_filters(source.summary, ext, review_settings(ctx.config.color), output,
                            lut_cache=ctx.store.root / ".cache" / "lut", dressing=dressing,
                            fields=fields, text_folder=text_folder)
    return _Look(Look(review.pre, review.post, review.output_args, review.audio),
                 review.record)


def _held_sequence(source: Source, folder: Path, ctx: JobContext) -> dict[str, Any]:
    """Links numbered 0, 1, 2, … to the frames that play there, a missing frame holding
    the one before, so the proxy keeps the sequence's length and every frame's time."""
    files = dict(source.frames)
    ext = source.path.suffix.lstrip(".")
    links = folder / "frames"
    links.mkdir()
    for index, number in enumerate(held_frames(list(files))):
        os.symlink(files[number].resolve(), links / held_frame_name(index, ext))
    return {"fps": ctx.config.transcode.sequence_fps, "pattern": held_frame_pattern(links, ext)}


def thumbnail(job: ClaimedJob, ctx: JobContext) -> JobResult:
    source = _source(job, ctx)
    shape = source.shape
    options = dict(ctx.preset.options)
    ext = str(options.get("format", "jpg"))
    if shape.kind == "audio":
        relpath = _render(job, ctx, "thumb", ext, source,
                          lambda out: waveform_args(source.path, out, options))
        return JobResult(outputs={ctx.preset.name: relpath})
    picture, at = source.path, thumbnail_time(shape.duration, shape.fps, shape.frames)
    if source.frames:
        picture, at = source.frames[len(source.frames) // 2][1], 0.0
    findings: list[str] = []
    look = _look(job, ctx, source, "still")
    relpath = _render(job, ctx, "thumb", ext, source,
                      lambda out: thumbnail_args(picture, out, options, at_seconds=at,
                                                 parity=shape.parity, look=look.args),
                      lambda out: findings.extend(_flat_finding(out, source.summary)))
    media: dict[str, Any] = {"color": look.record}
    if findings:
        media[f"qc_{ctx.preset.name}"] = {"warnings": findings}
    return JobResult(outputs={ctx.preset.name: relpath}, media=media)


def _flat_finding(picture: Path, summary: dict[str, Any]) -> list[str]:
    """A thumbnail of one flat colour from a source that carries real picture: the
    decoder most likely failed (the solid-green frame), so a person should look."""
    stats: dict[str, float] = {}
    for line in run_quick(signalstats_args(picture), "thumbnail").splitlines():
        key, _, value = line.strip().removeprefix("lavfi.signalstats.").partition("=")
        try:
            stats[key] = float(value)
        except ValueError:
            continue
    bpp = bits_per_pixel(summary)
    if not is_flat(stats) or not source_is_busy(bpp):
        return []
    return [f"thumbnail is a single flat colour (Y {stats['YAVG']:.0f}, U {stats['UAVG']:.0f}, "
            f"V {stats['VAVG']:.0f}) but the source carries {bpp:.2f} bits per pixel per "
            "frame: check that it decodes"]
