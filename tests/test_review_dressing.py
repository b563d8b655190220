"""Review dressing: burn-ins with live fields and literal names, the slate, keyframes.

Burn-ins are checked by pixels: our template rendered by ffmpeg must be identical to
drawtext drawing the expected literal string with expansion off.
"""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from axiomd.color import ColorSettings
from axiomd.consumers.dressing import (
    CORNERS,
    Dressing,
    ReviewFields,
    _drawtext,
    burn_in_filters,
    burn_in_text,
    keyframe_args,
)
from axiomd.consumers.review import review_filters
from axiomd.errors import ConfigError
from tests.colortools import ffmpeg, probe_video, render, summary

FIELDS = ReviewFields(asset="TST_SQ010_SH0010_comp", version="v003", first_frame=1001,
                      last_frame=1003, fps=24.0, timecode="01:00:00:00",
                      artist="Zoë O'Neil: 100% \\o/", date="2026-11-26", show="TST")


def _frames(vf: str, out: Path, count: int = 3) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                          "color=c=black:s=320x240:r=24", "-vf", vf, "-frames:v", str(count),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 240, 320, 3)


def _reference(text: str, folder: Path, corner: str = "top_left") -> np.ndarray:
    """drawtext drawing `text` verbatim (expansion off) where the corner burn-in goes."""
    literal = folder / f"ref-{abs(hash(text))}.txt"
    literal.write_text(text, encoding="utf-8")
    x, y = CORNERS[corner]
    return _frames(_drawtext(literal, "none", f"fontsize=h/30:x={x}:y={y}"), folder, 1)[0]


def _ours(template: str, folder: Path, corner: str = "top_left") -> np.ndarray:
    path = folder / "ours.txt"
    path.write_text(burn_in_text(template, FIELDS), encoding="utf-8")
    return _frames(",".join(burn_in_filters({corner: path}, slate=False)), folder)


def test_names_with_colon_quote_percent_backslash_render_literally(tmp_path: Path) -> None:
    """An artist called `Zoë O'Neil: 100% \\o/` is burnt in exactly as written."""
    ours = _ours("{artist} {asset} {version}", tmp_path, "bottom_left")[0]
    want = _reference(f"{FIELDS.artist} {FIELDS.asset} v003", tmp_path, "bottom_left")
    assert ours.any() and np.array_equal(ours, want)


def test_frame_field_counts_source_frame_numbers(tmp_path: Path) -> None:
    """`{frame}` shows 1001, 1002, 1003 on the first three frames of a 1001-based shot."""
    ours = _ours("frame {frame}", tmp_path)
    for index in range(3):
        assert np.array_equal(ours[index], _reference(f"frame {1001 + index}", tmp_path))


def test_timecode_field_runs_from_the_source_timecode(tmp_path: Path) -> None:
    """`{timecode}` starts at the source's 01:00:00:00 and advances a frame at a time."""
    ours = _ours("{timecode}", tmp_path, "top_right")
    for index in range(3):
        want = _reference(f"01:00:00:{index:02d}", tmp_path, "top_right")
        assert np.array_equal(ours[index], want)


def test_unknown_template_field_is_a_config_error_naming_the_corner() -> None:
    """A typo in a template says which corner and which fields exist."""
    with pytest.raises(ConfigError, match=r"burn_in\.top_left: unknown field \{shwo\}"):
        burn_in_text("{shwo}", FIELDS, key="burn_in.top_left")


def test_unknown_corner_is_a_config_error() -> None:
    """Corners are the four named ones."""
    with pytest.raises(ConfigError, match=r"proxy\.burn_in\.middle: unknown corner"):
        Dressing.from_options({"burn_in": {"middle": "{asset}"}}, "proxy")


def _clip(path: Path, seconds: float = 3.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=320x240:r=24:d={seconds}", "-f", "lavfi", "-i",
           f"sine=d={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(path))
    return path


def test_slate_is_an_extra_first_frame_without_burn_ins(tmp_path: Path) -> None:
    """With a slate the proxy has one more frame; the first is black with centred text."""
    clip = _clip(tmp_path / "c.mp4", 1.0)
    dressing = Dressing.from_options({"slate": True, "slate_note": "fix the edge: 50%",
                                      "burn_in": True})
    rf = review_filters(summary(clip), ".mp4", ColorSettings(), "proxy", tmp_path / "lut",
                        dressing, FIELDS, tmp_path)
    proxy = render(clip, tmp_path / "p.mp4", rf, extra=("-af", ",".join(rf.audio)))
    assert int(probe_video(proxy)["nb_read_frames"]) == 25
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(proxy), "-frames:v", "1", "-f",
                          "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True,
                         check=True).stdout
    slate = np.frombuffer(raw, np.uint8).reshape(240, 320)
    assert slate[:20].max() <= 20  # top edge black: no corner burn-in on the slate
    assert slate[80:160, 40:280].max() >= 200  # the slate text
    assert "fix the edge: 50%" in (tmp_path / "slate.txt").read_text(encoding="utf-8")


def test_proxy_has_at_least_one_keyframe_per_second_by_default(tmp_path: Path) -> None:
    """A 3 s proxy has a keyframe at 0, 1 and 2 s or more often."""
    clip = _clip(tmp_path / "c.mp4")
    rf = review_filters(summary(clip), ".mp4", ColorSettings(), "proxy", tmp_path / "lut",
                        Dressing(), FIELDS, tmp_path)
    proxy = render(clip, tmp_path / "p.mp4", rf)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame",
                          "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0",
                          str(proxy)], capture_output=True, text=True, check=True).stdout
    times = sorted(float(t.strip(",")) for t in out.split())
    assert len(times) >= 3 and all(b - a <= 1.0 + 1e-6 for a, b in pairwise(times))


def test_keyframe_interval_is_settable_per_preset() -> None:
    """`keyframe_seconds = 0.5` at 24 fps asks the encoder for a GOP of 12 frames."""
    dressing = Dressing.from_options({"keyframe_seconds": 0.5})
    assert keyframe_args(24.0, dressing.keyframe_seconds) == ["-g", "12"]
