"""Image sequences: `name.1001.exr … name.1100.exr` are one version. Pure, no I/O.

A frame file is recognised by a frame number of three or more digits between the name
and an image extension. The sequence is named as if it were one file
(`TST_SQ010_SH0010_comp_v003.exr`), so the drop root's naming rule applies unchanged.
Frame ranges are written the way artists read them (`1001-1047,1049-1100`), by fileseq.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({"exr", "dpx", "png", "jpg", "jpeg", "tif", "tiff"})
_FRAME = re.compile(r"(?P<stem>.+)\.(?P<frame>[0-9]{3,9})\.(?P<ext>[A-Za-z0-9]+)\Z")


@dataclass(frozen=True)
class Frame:
    stem: str
    number: int
    padding: int
    ext: str

    @property
    def sequence_name(self) -> str:
        """The name the naming rule checks: the frame number left out."""
        return f"{self.stem}.{self.ext}"


def frame_of(name: str) -> Frame | None:
    match = _FRAME.match(name)
    if match is None or match["ext"].lower() not in IMAGE_EXTENSIONS:
        return None
    return Frame(match["stem"], int(match["frame"]), len(match["frame"]), match["ext"])


@dataclass(frozen=True)
class FrameRange:
    first: int
    last: int
    count: int
    frames: str
    missing: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        return {"first": self.first, "last": self.last, "count": self.count,
                "frames": self.frames, "missing": list(self.missing)}


def frame_range(numbers: Iterable[int]) -> FrameRange:
    import fileseq  # ~20 ms at start; only sequences need it

    frames = fileseq.FrameSet(sorted(set(numbers)))
    inverted = frames.invertedFrameRange()
    missing = tuple(fileseq.FrameSet(inverted)) if inverted else ()
    return FrameRange(frames.start(), frames.end(), len(frames), frames.frange, missing)


def store_pattern(stem: str, padding: int, ext: str) -> str:
    """`TST_…_v003.####.exr`: how a sequence is named in the catalog and the store."""
    return f"{stem}.{'#' * padding}.{ext}"


def frame_file(pattern: str, number: int) -> str:
    hashes = re.search(r"#+", pattern)
    assert hashes is not None
    return pattern.replace(hashes.group(0), f"{number:0{len(hashes.group(0))}d}", 1)


def is_sequence(store_path: str) -> bool:
    return "#" in store_path.rsplit("/", 1)[-1]


def sequence_name(pattern: str) -> str:
    """`name_v003.####.exr` → `name_v003.exr`: the name the naming rule checks."""
    return re.sub(r"\.#+\.", ".", pattern, count=1)


@dataclass(frozen=True)
class FramesOnDisk:
    folder: Path
    frames: tuple[Path, ...]


def frames_on_disk(argument: str) -> FramesOnDisk | None:
    """The frame files an `axiomd ingest` argument names, in fileseq's syntax
    (`name.####.exr`, `name.1001-1024#.exr`, `name.%04d.exr`); None for a plain file name.

    SequenceNotFound (from fileseq) becomes an empty result the caller reports.
    """
    if not any(mark in argument for mark in ("#", "@", "%")):
        return None
    import fileseq

    try:
        found = fileseq.findSequenceOnDisk(argument)
    except fileseq.FileSeqException:
        return FramesOnDisk(Path(argument).parent, ())
    frames = tuple(Path(path) for path in found)
    pattern = fileseq.FileSequence(argument)
    if pattern.frameSet():  # an explicit range: only the frames it names
        wanted = set(pattern.frameSet())
        frames = tuple(p for p in frames if (f := frame_of(p.name)) and f.number in wanted)
    return FramesOnDisk(Path(argument).parent, frames)
