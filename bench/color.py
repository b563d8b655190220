"""Colour-managed proxy overhead: an ACEScg EXR sequence through the OCIO display LUT.

(a) bare ffmpeg running the exact command line axiomd builds (the same lut1d/lut3d
filter graph, the same encoder settings);
(b) axiomd's side of the same proxy: building the filter graph with `review_filters`
(config lookup, LUT cache hit), building the command, then running it;
(c) for information, the proxy without colour management, to show what colour costs.
Same sequence, same run, the two alternating. The one-off bake (cache miss) is shown
as its own figure. Run alone: `python -m bench.color`.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import Figure, show

RUNS = 7
FRAMES = 48
SIZE = "1280x720"


def _sequence(folder: Path) -> Path:
    """48 half-float EXR frames of moving test pattern, in linear light."""
    folder.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={SIZE}:rate=24", "-frames:v", str(FRAMES), "-vf",
                    "format=gbrpf32le", "-format", "half", "-compression", "zip16",
                    "-start_number", "1001", str(folder / "plate.%04d.exr")], check=True)
    return folder / "plate.####.exr"


def _command(pattern: Path, out: Path, cache: Path) -> list[str]:
    from axiomd.color import ColorSettings
    from axiomd.consumers.ffmpeg_args import proxy_args
    from axiomd.consumers.review import review_filters

    settings = ColorSettings(inputs={"exr": "ACEScg"})
    width, height = (int(v) for v in SIZE.split("x"))
    info = {"width": width, "height": height,
            "streams": [{"type": "video", "pix_fmt": "gbrpf32le", "fps": 24.0}]}
    rf = review_filters(info, "exr", settings, "proxy", cache)
    args = proxy_args(pattern, out, {"max_width": 1920, "crf": 23}, {"fps": 24},
                      has_audio=False)
    vf = args.index("-vf") + 1
    args[vf] = ",".join([*rf.pre, args[vf], *rf.post])
    return [*args[:-1], *rf.output_args, args[-1]]


def _plain(pattern: Path, out: Path) -> list[str]:
    """The same proxy without colour management: what a proxy cost before colour."""
    from axiomd.consumers.ffmpeg_args import proxy_args

    return proxy_args(pattern, out, {"max_width": 1920, "crf": 23}, {"fps": 24},
                      has_audio=False)


def _run(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True)


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="axb-color-") as folder:
        tmp = Path(folder)
        pattern = _sequence(tmp / "plate")
        cache = tmp / "lut"
        start = time.perf_counter()
        fixed = _command(pattern, tmp / "bare.mp4", cache)  # first call bakes the LUT
        bake = time.perf_counter() - start
        bares, ours, plains = [], [], []
        for i in range(RUNS):  # interleaved, order rotated, so all see the same machine
            jobs = [(bares, lambda: fixed), (ours, lambda i=i: _command(
                        pattern, tmp / f"ours{i}.mp4", cache)),
                    (plains, lambda: _plain(pattern, tmp / "plain.mp4"))]
            for times, build in jobs[i % 3:] + jobs[:i % 3]:
                start = time.perf_counter()
                _run(build())
                times.append(time.perf_counter() - start)
        a, b, c = (statistics.median(x) for x in (bares, ours, plains))
        return [
            show(Figure(f"colour-managed proxy of a {FRAMES}-frame {SIZE} half-float EXR "
                        f"sequence (ACEScg → sRGB ACES 2.0 SDR; median of {RUNS})", b, "s",
                        baseline=a, baseline_name="bare ffmpeg, same filter graph",
                        target="ratio ≤ 1.10",
                        note=f"{FRAMES / b:.1f} frames/s; graph building {b - a:+.3f} s")),
            show(Figure("the cost of colour itself: bare ffmpeg with the OCIO LUT graph", a, "s",
                        baseline=c, baseline_name="bare ffmpeg, proxy without colour",
                        note="informative: float decode + lut1d/lut3d + zscale per frame")),
            show(Figure("display LUT bake, first job per config/input/view (cache miss)",
                        bake, "s", note="65³ cube + 16,384-entry shaper; later jobs read it")),
        ]


if __name__ == "__main__":
    run()
