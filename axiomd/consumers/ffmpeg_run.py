"""Running ffmpeg/ffprobe as child processes that can never hang a worker.

stdout (progress) and stderr are drained by threads so a full pipe cannot stall ffmpeg;
a per-job timeout, a no-progress watchdog and the worker's stop flag end a run by
SIGTERM, then SIGKILL, to ffmpeg's whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from axiomd.consumers.checks import is_decode_error
from axiomd.consumers.ffmpeg_args import probe_args
from axiomd.errors import JobFailed
from axiomd.supervise import dies_with_parent

STDERR_TAIL_LINES = 30


def probe(source: Path, sequence: Mapping[str, Any] | None = None,
          timeout: float = 120.0) -> dict[str, Any]:
    """ffprobe's JSON for `source` (or a sequence), or JobFailed with ffprobe's own words."""
    try:
        result = subprocess.run(probe_args(source, sequence), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        raise JobFailed(f"ffprobe did not finish within {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise JobFailed("ffprobe is not installed on this worker (apt-get install ffmpeg)") from exc
    if result.returncode != 0:
        reason = _tail(result.stderr.splitlines()) or f"exit code {result.returncode}"
        raise JobFailed(f"ffprobe cannot read {source.name}: {reason}", retryable=False)
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except ValueError as exc:
        raise JobFailed(f"ffprobe gave unreadable output for {source.name}") from exc
    if not data.get("streams"):
        raise JobFailed(f"{source.name} has no audio or video streams ffprobe can read",
                        retryable=False)
    return data


def run_quick(args: Sequence[str], what: str, timeout: float = 60.0) -> str:
    """stdout of a short ffmpeg/ffprobe run over an output this job made (a check)."""
    try:
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, check=False, errors="replace")
    except subprocess.TimeoutExpired as exc:
        raise JobFailed(f"checking the {what} did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        reason = _tail(result.stderr.splitlines()) or f"exit code {result.returncode}"
        raise JobFailed(f"cannot check the {what}: {reason}")
    return result.stdout


def _tail(lines: Sequence[str]) -> str:
    return " | ".join(line.strip() for line in lines[-STDERR_TAIL_LINES:] if line.strip())


class FFmpegRun:
    """One ffmpeg process with its watchdogs.

    ffmpeg exits 0 after decoding errors and writes a wrong picture; the run counts the
    decoder's complaints and fails like a crash would (`decode_errors_fail`).
    """

    def __init__(self, args: Sequence[str], *, duration: float | None, timeout: float,
                 stall_seconds: float, stop: threading.Event, log: Any,
                 progress_every: float = 5.0, decode_errors_fail: bool = True) -> None:
        self.args = list(args)
        self.decode_errors_fail = decode_errors_fail
        self.decode_errors = 0
        self.first_decode_error: str | None = None
        self.duration = duration
        self.timeout = timeout
        self.stall_seconds = stall_seconds
        self.stop = stop
        self.log = log
        self.progress_every = progress_every
        self.stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.last_change = time.monotonic()
        self._last_out: str | None = None
        self._last_logged = 0.0

    def run(self) -> None:
        self.log.debug("job.ffmpeg", args=self.args)
        try:
            proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, text=True,
                                    preexec_fn=dies_with_parent(),
                                    errors="replace")
        except FileNotFoundError as exc:
            raise JobFailed("ffmpeg is not installed on this worker (apt-get install ffmpeg)") from exc
        readers = [
            threading.Thread(target=self._read_progress, args=(proc,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc,), daemon=True),
        ]
        for reader in readers:
            reader.start()
        started = time.monotonic()
        reason = None
        while proc.poll() is None:
            self._wait(proc, readers[0], 0.1)
            now = time.monotonic()
            if now - started > self.timeout:
                reason = f"ffmpeg ran longer than the job timeout of {self.timeout:.0f} s"
            elif now - self.last_change > self.stall_seconds:
                reason = f"ffmpeg made no progress for {self.stall_seconds:.0f} s"
            elif self.stop.is_set():
                reason = "worker stopping"
            if reason:
                self._kill(proc)
                break
        proc.wait()
        for reader in readers:
            reader.join(timeout=5)
        if reason == "worker stopping":
            raise InterruptedError(reason)
        if reason:
            raise JobFailed(f"{reason}; stopped it. Last output: {_tail(list(self.stderr))}")
        if proc.returncode != 0:
            raise JobFailed(f"ffmpeg failed (exit {proc.returncode}): "
                            f"{_tail(list(self.stderr)) or 'no error output'}", retryable=False)
        if self.decode_errors and self.decode_errors_fail:
            raise JobFailed(
                f"the source does not decode cleanly: ffmpeg reported {self.decode_errors} "
                f"decoding error{'s' if self.decode_errors != 1 else ''} (first: "
                f"{self.first_decode_error}); the output would show damaged or blank "
                "pictures, so it was not kept. Re-export the source, or check this "
                "worker's ffmpeg supports its codec and profile", retryable=False)

    @staticmethod
    def _wait(proc: subprocess.Popen[str], progress: threading.Thread, seconds: float) -> None:
        """Up to `seconds` for ffmpeg to end, returning as soon as it has: ffmpeg closes
        its progress pipe as it exits, so the reader's end is the first sign of it (a fixed
        sleep here added half a poll to every job)."""
        if progress.is_alive():
            progress.join(seconds)
            if progress.is_alive():
                return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(seconds)

    def _kill(self, proc: subprocess.Popen[str]) -> None:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def _read_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.stderr.append(line.rstrip())
            if is_decode_error(line):
                self.decode_errors += 1
                self.first_decode_error = self.first_decode_error or line.strip()
            self.last_change = time.monotonic()

    def _read_progress(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        block: dict[str, str] = {}
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            block[key] = value
            if key != "progress":
                continue
            out = block.get("out_time_us") or block.get("out_time_ms")
            if out != self._last_out:
                self._last_out = out
                self.last_change = time.monotonic()
            self._report(block)
            block = {}

    def _report(self, block: dict[str, str]) -> None:
        now = time.monotonic()
        if now - self._last_logged < self.progress_every and block.get("progress") != "end":
            return
        self._last_logged = now
        out_us = block.get("out_time_us", "")
        percent = None
        if out_us.isdigit() and self.duration:
            percent = round(min(100.0, 100.0 * int(out_us) / 1e6 / self.duration), 1)
        self.log.info("job.progress", percent=percent, fps=block.get("fps"),
                      speed=block.get("speed", "").strip() or None)
