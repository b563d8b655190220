"""What an OpenEXR file stores, from its header: half or float channels, compression.

ffmpeg's EXR decoder hands out 32-bit float whatever the file holds, so a pipeline TD
asking "is this half?" must be answered from the header. `parse` is pure (bytes in).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

MAGIC = b"\x76\x2f\x31\x01"
PIXEL_TYPES = {0: "uint", 1: "half", 2: "float"}
COMPRESSIONS = ["none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab"]
HEADER_BYTES = 65536


def _cstring(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode("latin-1"), end + 1


def _channels(value: bytes) -> dict[str, str]:
    found, at = {}, 0
    while at < len(value) and value[at] != 0:
        name, at = _cstring(value, at)
        (kind,) = struct.unpack_from("<i", value, at)
        at += 16  # pixel type, pLinear + 3 reserved, x and y sampling
        found[name] = PIXEL_TYPES.get(kind, str(kind))
    return found


def parse(data: bytes) -> dict[str, Any] | None:
    """`{"pixel_type": "half", "channels": {...}, "compression": "zip"}`, or None when
    this is not an EXR header (or is one this reader cannot follow)."""
    if not data.startswith(MAGIC):
        return None
    try:
        at, found = 8, {}
        while at < len(data) and data[at] != 0:
            _name, at = _cstring(data, at)
            kind, at = _cstring(data, at)
            (size,) = struct.unpack_from("<i", data, at)
            value = data[at + 4: at + 4 + size]
            at += 4 + size
            if kind == "chlist":
                found["channels"] = _channels(value)
            elif kind == "compression" and value:
                found["compression"] = (COMPRESSIONS[value[0]] if value[0] < len(COMPRESSIONS)
                                        else str(value[0]))
    except (ValueError, struct.error):
        return None
    types = set(found.get("channels", {}).values())
    if types:
        found["pixel_type"] = types.pop() if len(types) == 1 else "mixed"
    return found or None


def read(path: Path) -> dict[str, Any] | None:
    with path.open("rb") as handle:
        return parse(handle.read(HEADER_BYTES))
