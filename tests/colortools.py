"""Test media with known pixel values, and ffmpeg runs of review filter graphs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from axiomd.consumers.ffmpeg_args import summarize_probe
from axiomd.consumers.review import ReviewFilters

PATCH = 16


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def write_exr(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """A float EXR of exactly these linear values (H, W, 3)."""
    h, w = rgb.shape[:2]
    planes = [rgb[..., 1], rgb[..., 2], rgb[..., 0]] + ([alpha] if alpha is not None else [])
    raw = path.with_suffix(".raw")
    raw.write_bytes(np.stack(planes).astype("<f4").tobytes())
    ffmpeg("-f", "rawvideo", "-pix_fmt", "gbrapf32le" if alpha is not None else "gbrpf32le",
           "-s", f"{w}x{h}", "-i", str(raw), "-compression", "zip1", str(path))
    raw.unlink()
    return path


def patches(values: np.ndarray, columns: int = 8) -> np.ndarray:
    """Values (N, 3) laid out as PATCH x PATCH squares, `columns` to a row."""
    rows = -(-len(values) // columns)
    padded = np.zeros((rows * columns, 3), dtype=np.float32)
    padded[: len(values)] = values
    grid = padded.reshape(rows, columns, 3)
    return np.repeat(np.repeat(grid, PATCH, 0), PATCH, 1)


def patch_centres(image: np.ndarray, count: int) -> np.ndarray:
    """The centre pixel of each patch (N, 3) from an image laid out by `patches`."""
    c = PATCH // 2
    return image[c::PATCH, c::PATCH].reshape(-1, 3)[:count]


def decode_rgb(path: Path, frame: int = 0) -> np.ndarray:
    """Frame `frame` as 8-bit RGB, decoded with the stream's BT.709 limited-range matrix."""
    info = probe_video(path)
    w, h = int(info["width"]), int(info["height"])
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf",
         f"select=eq(n\\,{frame}),zscale=d=none:min=709:rin=limited:m=gbr:r=full,format=gbrp",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gbrp", "-"],
        check=True, capture_output=True).stdout
    g, b, r = np.frombuffer(raw, np.uint8).reshape(3, h, w)
    return np.stack([r, g, b], axis=-1).astype(int)


def read_png(path: Path) -> np.ndarray:
    info = probe_video(path)
    w, h = int(info["width"]), int(info["height"])
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(int)


def probe_video(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams",
                          "-count_frames", "-print_format", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"][0]


def summary(path: Path) -> dict:
    """The probe summary a worker would hand `review_filters` for this file."""
    raw = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return summarize_probe(json.loads(raw))


def float_image(width: int, height: int, alpha: bool = False) -> dict:
    """The probe summary of a float EXR of this size (what `write_exr` makes)."""
    pix_fmt = "gbrapf32le" if alpha else "gbrpf32le"
    return {"width": width, "height": height, "streams": [{"type": "video", "pix_fmt": pix_fmt}]}


def tags(path: Path) -> tuple[str | None, str | None, str | None, str | None]:
    """The first video stream's primaries, transfer, matrix and range tags."""
    info = probe_video(path)
    return (info.get("color_primaries"), info.get("color_transfer"), info.get("color_space"),
            info.get("color_range"))


def render(source: Path, output: Path, filters: ReviewFilters, scale: str | None = None,
           input_args: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Path:
    """What the proxy/thumbnail builders will run: pre, the preset's scale, post, tags."""
    chain = [*filters.pre, *([scale] if scale else []), *filters.post]
    codec = (["-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p"]
             if output.suffix == ".mp4" else ["-frames:v", "1", "-update", "1"])
    ffmpeg(*input_args, "-i", str(source), "-vf", ",".join(chain), *codec,
           *filters.output_args, *extra, str(output))
    return output
