"""`axiomd verify`: are the store's files still the bytes the catalog recorded?

Each version's file is hashed again; an image sequence's frames are hashed one by one
and combined into the manifest checksum exactly as `Store.stage_sequence` made it.
Read-only: nothing in the store or the catalog is changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from axiomd.catalog.versions import VersionInfo, list_assets, list_versions
from axiomd.sequences import frame_of, is_sequence
from axiomd.store import Store, hash_file


@dataclass(frozen=True)
class Mismatch:
    asset: str
    version: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.asset} {self.version}: {self.path}: {self.problem}"


def stored_checksum(store: Store, store_path: str) -> tuple[str, int]:
    """The checksum and size of what the store holds for a version, as staging computed it."""
    final = store.path(store_path)
    if not is_sequence(store_path):
        return hash_file(final)
    frames = sorted((parsed.number, p) for p in final.parent.iterdir()
                    if (parsed := frame_of(p.name)) is not None)
    lines, total = [], 0
    for number, path in frames:
        checksum, size = hash_file(path)
        lines.append(f"{number}:{checksum}")
        total += size
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), total


def check_version(store: Store, version: VersionInfo) -> Mismatch | None:
    def mismatch(problem: str) -> Mismatch:
        return Mismatch(version.asset, version.label, version.store_path, problem)

    try:
        checksum, size = stored_checksum(store, version.store_path)
    except FileNotFoundError:
        return mismatch("missing from the store")
    except OSError as exc:
        return mismatch(f"cannot be read: {exc.strerror}")
    if checksum != version.checksum or size != version.size:
        return mismatch(f"stored bytes are {size} bytes with sha256 {checksum}; the catalog "
                        f"recorded {version.size} bytes with sha256 {version.checksum}")
    return None


def verify(engine: Engine, store: Store, asset: str | None = None
           ) -> Iterator[tuple[VersionInfo, Mismatch | None]]:
    """Every version (of `asset`, or of all assets) with what is wrong with it, if anything."""
    assets = [asset] if asset else [a.name for a in list_assets(engine)]
    for name in assets:
        for version in list_versions(engine, name):
            yield version, check_version(store, version)
