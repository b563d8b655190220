"""From settled files to work: single files and whole image sequences, grouped by asset.

Pure: the clock comes in as `now`, and the asset a path belongs to comes from the
function given. Frames of an image sequence are gathered here until no frame of the
sequence has been settling or new for `sequence_settle_seconds`; the sequence then goes
out as one item. A group holds one asset's items in name order (so `_v001` goes in
before `_v002`); different groups may be worked at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from axiomd.sequences import frame_of, store_pattern
from axiomd.watcher.settle import Snapshot


@dataclass(frozen=True)
class FileItem:
    path: Path
    snapshot: Snapshot


@dataclass(frozen=True)
class SequenceItem:
    pattern: Path  # `folder/name_v003.####.exr`
    frames: Mapping[Path, Snapshot]


Item = FileItem | SequenceItem


def pattern_of(path: Path) -> Path | None:
    """The sequence a frame file belongs to, or None for a file that is not a frame."""
    frame = frame_of(path.name)
    if frame is None:
        return None
    return path.parent / store_pattern(frame.stem, frame.padding, frame.ext)


class Batcher:
    def __init__(self, sequence_settle_seconds: float, asset_of: Callable[[Path], str]) -> None:
        self.sequence_settle_seconds = sequence_settle_seconds
        self.asset_of = asset_of
        self._files: dict[Path, Snapshot] = {}
        self._sequences: dict[Path, dict[Path, Snapshot]] = {}
        self._last_frame_at: dict[Path, float] = {}

    def __len__(self) -> int:
        return len(self._files) + len(self._sequences)

    def add(self, settled: Iterable[tuple[Path, Snapshot]], now: float) -> None:
        """Settled files: plain ones are ready; frames join their sequence."""
        for path, snapshot in settled:
            pattern = pattern_of(path)
            if pattern is None:
                self._files[path] = snapshot
            else:
                self._sequences.setdefault(pattern, {})[path] = snapshot
                self._last_frame_at[pattern] = now

    def holds(self, path: Path) -> Snapshot | None:
        """What was settled for `path`, if it is waiting here: a scan seeing the same again
        is not news, and must not start its settling over."""
        if path in self._files:
            return self._files[path]
        pattern = pattern_of(path)
        return self._sequences.get(pattern, {}).get(path) if pattern else None

    def forget(self, path: Path) -> None:
        """`path` changed or vanished after it settled: it settles again from the start."""
        self._files.pop(path, None)
        pattern = pattern_of(path)
        if pattern in self._sequences:
            self._sequences[pattern].pop(path, None)
            if not self._sequences[pattern]:
                del self._sequences[pattern]
                del self._last_frame_at[pattern]

    def take(self, now: float, settling: Iterable[Path]) -> list[list[Item]]:
        """Everything ready, grouped by asset, each group in name order.

        A sequence is ready once none of its frames is among `settling` and its last
        frame settled `sequence_settle_seconds` ago.
        """
        busy = {p for p in (pattern_of(path) for path in settling) if p is not None}
        items: list[Item] = [FileItem(p, s) for p, s in self._files.items()]
        self._files = {}
        for pattern, last in list(self._last_frame_at.items()):
            if pattern not in busy and now - last >= self.sequence_settle_seconds:
                items.append(SequenceItem(pattern, self._sequences.pop(pattern)))
                del self._last_frame_at[pattern]
        groups: dict[str, list[Item]] = {}
        for item in sorted(items, key=path_of):
            groups.setdefault(self.asset_of(path_of(item)), []).append(item)
        return list(groups.values())

    def retry(self, items: Iterable[Item]) -> None:
        """Items that could not be worked now (an outage): ready again at the next `take`."""
        for item in items:
            if isinstance(item, FileItem):
                self._files[item.path] = item.snapshot
            else:
                self._sequences.setdefault(item.pattern, {}).update(item.frames)
                self._last_frame_at[item.pattern] = float("-inf")


def path_of(item: Item) -> Path:
    """A file item's path, a sequence's pattern: what names the item in logs and waits."""
    return item.path if isinstance(item, FileItem) else item.pattern
