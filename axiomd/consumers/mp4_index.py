"""What a rendered MP4 says about itself in its `moov` box: each track's kind, sample
count and duration, as ffprobe would report them.

The proxy check needs the frame count and duration of the file ffmpeg has just written.
Starting ffprobe for that cost 60-70 ms per job (most of it loading its libraries); the
index ffmpeg wrote (at the front, `+faststart`) holds the same numbers and reads in a
millisecond. Only the simple layout ffmpeg's mp4 muxer writes is read here: not
fragmented, one edit per track at most, no empty edit, normal rate. Anything else is
`None`, and the caller asks ffprobe.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_MOOV_BYTES = 64 * 1024 * 1024
_KINDS = {"vide": "video", "soun": "audio"}


class _Unreadable(Exception):
    """The file is not laid out as this module expects."""


@dataclass(frozen=True)
class Track:
    kind: str  # "video", "audio", or the track's handler type
    samples: int | None  # None: the count could not be read (from ffprobe's answer)
    duration: float | None


def tracks(path: Path) -> list[Track] | None:
    """The file's tracks in file order, or None when they are not read here."""
    try:
        moov = _moov(path)
        if moov is None:
            return None
        if any(kind == "mvex" for kind, _ in _boxes(moov)):
            return None  # fragmented: the samples are counted in the fragments, not here
        movie_scale = _scale_and_duration(_child(moov, "mvhd"))[0]
        return [_track(trak, movie_scale) for kind, trak in _boxes(moov) if kind == "trak"]
    except (_Unreadable, struct.error, OSError, ZeroDivisionError):
        return None


def _boxes(data: memoryview) -> Iterator[tuple[str, memoryview]]:
    """(type, payload) of each box laid end to end in `data`."""
    at = 0
    while at < len(data):
        if len(data) - at < 8:
            raise _Unreadable("a box header runs past its parent")
        size, kind = struct.unpack_from(">I4s", data, at)
        head = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            head = 16
        elif size == 0:
            size = len(data) - at
        if size < head or at + size > len(data):
            raise _Unreadable("a box's size runs past its parent")
        yield kind.decode("latin-1"), data[at + head:at + size]
        at += size


def _child(data: memoryview, kind: str) -> memoryview:
    for name, payload in _boxes(data):
        if name == kind:
            return payload
    raise _Unreadable(f"no {kind} box")


def _moov(path: Path) -> memoryview | None:
    with path.open("rb") as f:
        at = 0
        while True:
            f.seek(at)
            head = f.read(16)
            if len(head) < 8:
                return None
            size, kind = struct.unpack_from(">I4s", head)
            if size == 1:
                size = struct.unpack_from(">Q", head, 8)[0] if len(head) == 16 else 0
                if size < 16:
                    return None
            elif size < 8:
                return None  # to the end of the file, or broken: not this layout
            if kind == b"moov":
                if size > MAX_MOOV_BYTES:
                    return None
                f.seek(at)
                data = f.read(size)
                if len(data) != size:
                    return None
                header = 16 if struct.unpack_from(">I", data)[0] == 1 else 8
                return memoryview(data)[header:]
            at += size


def _scale_and_duration(box: memoryview) -> tuple[int, int]:
    """timescale and duration of an `mvhd` or `mdhd` (version 0 or 1)."""
    if box[0] == 1:
        scale, duration = struct.unpack_from(">IQ", box, 20)
    else:
        scale, duration = struct.unpack_from(">II", box, 12)
    return scale, duration


def _edit(trak: memoryview) -> int | None:
    """The length (in movie units) of the track's one edit, if it has one."""
    try:
        elst = _child(_child(trak, "edts"), "elst")
    except _Unreadable:
        return None
    version, count = elst[0], struct.unpack_from(">I", elst, 4)[0]
    if count == 0:
        return None
    if count != 1:
        raise _Unreadable("more than one edit")
    if version == 1:
        length, start, rate = struct.unpack_from(">Qqi", elst, 8)
    else:
        length, start, rate = struct.unpack_from(">Iii", elst, 8)
    if start < 0 or rate != 0x10000:
        raise _Unreadable("an empty edit or a rate change")
    return int(length)


def _samples(stbl: memoryview) -> int:
    for kind, box in _boxes(stbl):
        if kind in ("stsz", "stz2"):
            return int(struct.unpack_from(">I", box, 8)[0])
    raise _Unreadable("no sample size table")


def _track(trak: memoryview, movie_scale: int) -> Track:
    mdia = _child(trak, "mdia")
    scale, duration = _scale_and_duration(_child(mdia, "mdhd"))
    handler = bytes(_child(mdia, "hdlr")[8:12]).decode("latin-1")
    samples = _samples(_child(_child(mdia, "minf"), "stbl"))
    edit = _edit(trak)
    if edit:  # the edit trims the media (AAC priming and padding): ffprobe's duration
        duration = min(duration, -(-edit * scale // movie_scale))
    return Track(_KINDS.get(handler, handler), samples, duration / scale)
