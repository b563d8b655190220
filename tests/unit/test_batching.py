"""Settled files become work: files and whole sequences, grouped by asset, in name order."""

from __future__ import annotations

from pathlib import Path

from axiomd.watcher.batching import Batcher, FileItem, SequenceItem
from axiomd.watcher.settle import Snapshot

DROP = Path("/drop")
S = Snapshot(100, 1)


def by_stem(path: Path) -> str:
    return path.name.split("_v")[0]


def frames(numbers: range, stem: str = "A_v001") -> list[tuple[Path, Snapshot]]:
    return [(DROP / f"{stem}.{n}.png", S) for n in numbers]


def test_plain_files_are_ready_at_once_grouped_by_asset_in_name_order() -> None:
    batcher = Batcher(10.0, by_stem)
    batcher.add([(DROP / "B_v001.mov", S), (DROP / "A_v002.mov", S), (DROP / "A_v001.mov", S)],
                now=0.0)
    groups = batcher.take(0.0, settling=[])
    assert groups == [[FileItem(DROP / "A_v001.mov", S), FileItem(DROP / "A_v002.mov", S)],
                      [FileItem(DROP / "B_v001.mov", S)]]
    assert len(batcher) == 0


def test_a_sequence_waits_for_its_quiet_period_then_goes_as_one_item() -> None:
    batcher = Batcher(10.0, by_stem)
    batcher.add(frames(range(1001, 1004)), now=0.0)
    assert batcher.take(9.9, settling=[]) == []
    [[item]] = batcher.take(10.0, settling=[])
    assert isinstance(item, SequenceItem)
    assert item.pattern == DROP / "A_v001.####.png" and len(item.frames) == 3


def test_a_sequence_with_a_frame_still_settling_waits() -> None:
    batcher = Batcher(1.0, by_stem)
    batcher.add(frames(range(1001, 1003)), now=0.0)
    assert batcher.take(5.0, settling=[DROP / "A_v001.1003.png"]) == []


def test_a_frame_seen_again_unchanged_is_held_and_does_not_restart_the_quiet_period() -> None:
    """A rescan shorter than the sequence's quiet period must not keep it waiting forever."""
    batcher = Batcher(10.0, by_stem)
    batcher.add(frames(range(1001, 1003)), now=0.0)
    assert batcher.holds(DROP / "A_v001.1001.png") == S
    assert len(batcher.take(10.0, settling=[])) == 1


def test_a_frame_that_changed_after_settling_is_forgotten() -> None:
    batcher = Batcher(1.0, by_stem)
    batcher.add(frames(range(1001, 1003)), now=0.0)
    batcher.forget(DROP / "A_v001.1002.png")
    [[item]] = batcher.take(1.0, settling=[])
    assert isinstance(item, SequenceItem) and list(item.frames) == [DROP / "A_v001.1001.png"]


def test_items_handed_back_after_an_outage_are_ready_at_the_next_take() -> None:
    batcher = Batcher(10.0, by_stem)
    batcher.add([(DROP / "A_v001.mov", S), *frames(range(1001, 1003), "B_v001")], now=0.0)
    taken = [item for group in batcher.take(10.0, settling=[]) for item in group]
    batcher.retry(taken)
    assert [item for group in batcher.take(10.0, settling=[]) for item in group] == taken
