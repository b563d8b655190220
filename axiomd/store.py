"""The managed store: where versions live, immutable, under `SHOW/SEQ/SHOT/TASK/v003/`.

A file enters in two steps. `stage` puts the bytes at `.staging/<token>` (hard link
when the source is on the same filesystem, else a streamed copy that hashes as it goes,
fsynced). After the catalog has committed the version, `publish` renames the staged file
to its final path and makes it read-only. Readers therefore never see a partial file in
the store's version folders, and a staged file with no committed version is garbage
that `discard_staged` may remove (its source still exists by then).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from axiomd import liveness
from axiomd.errors import SourceUnreadable, StoreError
from axiomd.sequences import frame_file, frame_of, is_sequence
from axiomd.versioning import version_label

CHUNK = 1024 * 1024
# Copies write in bigger pieces: on ext4 each write allocates blocks, and 1 MiB writes
# ran at half the speed of 8 MiB ones (memory stays constant either way).
COPY_CHUNK = 8 * CHUNK
STAGING = ".staging"
MIN_FREE_BYTES = 64 * 1024 * 1024
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
# Folders `_make_folder` remembers before it starts again: a studio's shots and tasks.
KNOWN_FOLDERS = 100_000


class StoreFull(StoreError):
    """This file does not fit in the store's free space now; smaller files still may."""


@dataclass(frozen=True)
class StagedFile:
    token: str
    path: Path
    checksum: str
    size: int


def _vanished(staged: StagedFile) -> StoreError:
    return StoreError(f"staged file {staged.path} vanished before it was published")


_buffers = threading.local()


def hash_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size, streamed in 1 MiB chunks: constant memory for any file size.
    Each thread reuses its buffer: zeroing a fresh 1 MiB (~13 µs) for each small file of
    a burst cost twenty times hashing it."""
    digest = hashlib.sha256()
    size = 0
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as f:
        view = memoryview(buf)
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
            liveness.progress(n)
    return digest.hexdigest(), size


def version_relpath(identity_values: Iterable[str], number: int, file_name: str) -> str:
    """`TST/SQ010/SH0010/comp/v003/<file>`, refusing anything that could escape the store."""
    parts = [*identity_values, version_label(number), file_name]
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part or "\x00" in part:
            raise StoreError(f"{part!r} cannot be a folder or file name in the store")
    return "/".join(parts)


class Store:
    """The folder tree under `[store] root`."""

    def __init__(self, root: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes
        self.leftovers: set[str] = set()  # staged tokens that could not be discarded yet
        self._known: set[str] = set()  # folders made or found by `_make_folder`
        self._top = os.path.dirname(str(root))  # where `_make_folder` stops looking up

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def staged_path(self, token: str) -> Path:
        return self.root / STAGING / token

    def holds(self, relpath: str) -> bool:
        """Whether a version's source is in place (publishing a sequence renames its folder)."""
        final = self.path(relpath)
        return final.parent.is_dir() if is_sequence(relpath) else final.is_file()

    def stage(self, source: Path, token: str, *, link: bool) -> StagedFile:
        """Bring `source` into the store's staging area without touching `source`."""
        target = self.staged_path(token)
        checksum, size = self._stage_one(source, target, link)
        return StagedFile(token, target, checksum, size)

    def stage_sequence(self, frames: Sequence[tuple[Path, int]], token: str, *,
                       link: bool) -> StagedFile:
        """Stage every frame into `.staging/<token>/`; the checksum covers them all, in order.

        The manifest hash (frame number and sha256 per line) names the sequence's content,
        so the same frames dropped again are a duplicate like any file.
        """
        folder = self.staged_path(token)
        self._ensure_dir(folder)
        lines, total = [], 0
        for source, number in sorted(frames, key=lambda f: f[1]):
            checksum, size = self._stage_one(source, folder / source.name, link)
            lines.append(f"{number}:{checksum}")
            total += size
        manifest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        return StagedFile(token, folder, manifest, total)

    def _ensure_dir(self, folder: Path) -> None:
        if not folder.is_dir():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {folder}: {exc.strerror}") from exc

    def _stage_one(self, source: Path, target: Path, link: bool) -> tuple[str, int]:
        if link:
            try:
                self._link(source, target)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise StoreError(f"cannot stage {source.name}: {exc.strerror}") from exc
            else:
                try:
                    return hash_file(target)
                except OSError as exc:
                    target.unlink(missing_ok=True)
                    raise SourceUnreadable(f"cannot read {source.name}: {exc.strerror}") from exc
        return self._copy(source, target)

    def _link(self, source: Path, target: Path) -> None:
        """Hard-link `source` as `target`, replacing what a dead attempt left there and
        making the staging folder if it is missing (it is, once, for a new store)."""
        for _ in range(3):
            try:
                os.link(source, target)
                return
            except FileExistsError:
                target.unlink()
            except FileNotFoundError:
                if not source.exists():
                    raise
                self._ensure_dir(target.parent)
        os.link(source, target)

    def _copy(self, source: Path, target: Path) -> tuple[str, int]:
        self._ensure_dir(target.parent)
        self.require_space(source.stat().st_size)
        digest = hashlib.sha256()
        size = 0
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below, errors told apart
        except OSError as exc:
            raise SourceUnreadable(f"cannot read {source.name}: {exc.strerror}") from exc
        try:
            with src, open(target, "wb") as dst:
                buf = bytearray(COPY_CHUNK)
                view = memoryview(buf)
                while n := src.readinto(buf):
                    digest.update(view[:n])
                    dst.write(view[:n])
                    size += n
                    liveness.progress(n)
                dst.flush()
                os.fsync(dst.fileno())
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise StoreError(f"cannot copy {source.name} into the store: {exc.strerror}") from exc
        return digest.hexdigest(), size

    def publish(self, staged: StagedFile, relpath: str) -> Path:
        """Move a staged file (or sequence) to its final, read-only place. Safe to repeat."""
        result = self.publish_many([(staged, relpath)])[0]
        if isinstance(result, StoreError):
            raise result
        return result

    def publish_many(self, items: Sequence[tuple[StagedFile, str]]) -> list[Path | StoreError]:
        """`publish` for a batch: every rename first, then each folder synced once, so
        files that share a folder share its sync. Each item's final path, or the
        StoreError that kept it from being durably in place."""
        results: list[Path | StoreError] = []
        folders: dict[Path, list[int]] = {}
        for staged, relpath in items:
            try:
                final = self._move(staged, relpath)
            except StoreError as exc:
                results.append(exc)
                continue
            folder = final.parent.parent if is_sequence(relpath) else final.parent
            folders.setdefault(folder, []).append(len(results))
            results.append(final)
        for folder, indexes in folders.items():
            try:
                _fsync_dir(folder)
            except OSError as exc:
                for i in indexes:
                    results[i] = StoreError(f"cannot publish {results[i]}: {exc.strerror}")
        return results

    def _move(self, staged: StagedFile, relpath: str) -> Path:
        """A sequence's frames are renamed to the version's pattern inside the staging
        folder, then the folder becomes the version folder in one rename."""
        final = self.path(relpath)
        try:
            if is_sequence(relpath):
                self._make_folder(os.path.dirname(final.parent))
                if staged.path.is_dir():
                    for frame in staged.path.iterdir():
                        parsed = frame_of(frame.name)
                        if parsed is not None:
                            os.chmod(frame, READ_ONLY)
                            frame.rename(frame.with_name(frame_file(final.name, parsed.number)))
                    os.rename(staged.path, final.parent)
                elif not final.parent.exists():
                    raise _vanished(staged)
                return final
            self._make_folder(os.path.dirname(final))
            try:
                os.chmod(staged.path, READ_ONLY)
            except FileNotFoundError:
                if not final.exists():
                    raise _vanished(staged) from None
                return final  # published before: publishing is safe to repeat
            os.replace(staged.path, final)
        except OSError as exc:
            raise StoreError(f"cannot publish {final}: {exc.strerror}") from exc
        return final

    def _make_folder(self, folder: str) -> None:
        """`folder`, with any missing parents. Folders above it are remembered, so a known
        asset's next version costs one mkdir and a new asset one per folder it adds, with
        no failed call first; if one of them was removed since, they are all made again."""
        missing = []
        while folder not in self._known and folder != self._top:
            missing.append(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for made in reversed(missing):
            try:
                os.mkdir(made)
            except FileExistsError:
                pass
            except FileNotFoundError:
                self._known.clear()
                os.makedirs(missing[0], exist_ok=True)
                return
        if len(self._known) > KNOWN_FOLDERS:
            self._known.clear()
        self._known.update(missing[1:])

    def discard_staged(self, token: str) -> None:
        """Best effort: on a store that turned read-only the staged copy stays for `tidy`
        (or, if this process dies first, the next start's `Ingestor.recover_staged`)."""
        path = self.staged_path(token)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        if path.exists():
            self.leftovers.add(token)

    def tidy(self) -> None:
        """Discard what `discard_staged` could not, now that the store may take it."""
        for token in list(self.leftovers):
            self.leftovers.discard(token)
            self.discard_staged(token)

    def staged_tokens(self) -> list[str]:
        folder = self.root / STAGING
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def require_space(self, needed: int) -> None:
        """Keep `min_free_bytes` free. A store below that is full for everything (StoreError);
        one with room for smaller files refuses only this one (StoreFull)."""
        self.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.root).free
        margin = self.min_free_bytes
        if free < needed + margin:
            kind = StoreFull if free >= margin else StoreError
            raise kind(
                f"store {self.root} has {free // 2**20} MiB free, needs {needed // 2**20} MiB "
                f"plus {margin // 2**20} MiB headroom ([store] min_free_bytes)"
            )


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
