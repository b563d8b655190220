"""The claim folder and its journal, on real files, without servers."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from structlog.testing import capture_logs

from axiomd.watcher import claims
from axiomd.watcher.claims import JOURNAL, JOURNAL_MAX, Claim, ClaimArea, leftover_claims

FRAME = "TST_SQ010_SH0010_comp_v001.{:04d}.png"


def _drop(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rel.encode())
    return path


def _by_file(claims: list[Claim]) -> dict[str, tuple[str, Path]]:
    return {c.staged.name: (c.token, c.rel) for c in claims}


def test_claims_from_many_threads_each_come_back_with_their_own_origin(tmp_path: Path) -> None:
    """A 1,000-frame sequence and singles claimed at once from 6 threads: every origin is kept."""
    root = tmp_path / "comp"
    frames = [f"shots/sub/{FRAME.format(n)}" for n in range(1001, 2001)]
    singles = [[f"other{t}/TST_SQ020_SH{t}{i:03d}_comp_v001.mov" for i in range(150)]
               for t in range(5)]
    for rel in frames + [r for batch in singles for r in batch]:
        _drop(root, rel)
    area = ClaimArea(root, "vm.4242.iabcdef0")
    made: list[Claim] = []
    lock = threading.Lock()

    def claim_all(rels: list[str], random: str | None) -> None:
        for rel in rels:
            claim = area.claim(root / rel, Path(rel), random=random)
            assert claim is not None
            with lock:
                made.append(claim)

    threads = [threading.Thread(target=claim_all, args=(frames, uuid.uuid4().hex[:12]))]
    threads += [threading.Thread(target=claim_all, args=(batch, None)) for batch in singles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (area.folder / JOURNAL).stat().st_size > JOURNAL_MAX
    assert len(made) == 1750
    assert _by_file(list(leftover_claims(area.folder))) == _by_file(made)


def test_compaction_keeps_every_claim_still_in_the_folder(tmp_path: Path) -> None:
    """Past its size limit the journal forgets finished claims and only those."""
    root = tmp_path / "comp"
    area = ClaimArea(root, "vm.4242.iabcdef0")
    kept: list[Claim] = []
    for i in range(2000):
        rel = f"sub/TST_SQ020_SH{i:04d}_comp_v001.mov"
        claim = area.claim(_drop(root, rel), Path(rel))
        assert claim is not None
        if i % 10:
            claim.staged.unlink()  # ingested: its line may go
        else:
            kept.append(claim)

    journal = (area.folder / JOURNAL).read_bytes().splitlines()
    assert len(journal) < 2000
    assert _by_file(list(leftover_claims(area.folder))) == _by_file(kept)


def test_a_torn_last_line_is_skipped_and_the_next_claim_is_still_read(tmp_path: Path) -> None:
    """A process killed mid-line leaves the lines before it readable, and a successor with
    its pid (a container restart) appends after it without losing its own first line."""
    root = tmp_path / "comp"
    first = ClaimArea(root, "vm.7.iabcdef0")
    before = first.claim(_drop(root, "a/TST_SQ020_SH0001_comp_v001.mov"),
                         Path("a/TST_SQ020_SH0001_comp_v001.mov"))
    with open(first.folder / JOURNAL, "ab") as journal:
        journal.write(b'{"staged": "0123456789ab.TST_SQ0')
    assert before is not None
    assert _by_file(list(leftover_claims(first.folder))) == _by_file([before])

    claims._journals.clear()  # a new process: nothing shared with the dead one
    after = ClaimArea(root, "vm.7.iabcdef0").claim(_drop(root, "b/TST_SQ020_SH0002_comp_v001.mov"),
                                               Path("b/TST_SQ020_SH0002_comp_v001.mov"))
    assert after is not None
    assert _by_file(list(leftover_claims(first.folder))) == _by_file([before, after])


def test_two_claim_areas_of_one_folder_share_one_journal(tmp_path: Path) -> None:
    """A second ClaimArea for the same root (made in a race) cannot fork the journal."""
    root = tmp_path / "comp"
    one, two = ClaimArea(root, "vm.9.iabcdef0"), ClaimArea(root, "vm.9.iabcdef0")
    made = []
    for i in range(1500):
        rel = f"s/TST_SQ020_SH{i:04d}_comp_v001.mov"
        claim = (one if i % 2 else two).claim(_drop(root, rel), Path(rel))
        assert claim is not None
        made.append(claim)
    assert _by_file(list(leftover_claims(one.folder))) == _by_file(made)


def test_a_claimed_file_the_journal_does_not_place_goes_to_the_top_folder_and_is_logged(
        tmp_path: Path) -> None:
    """No journal line: its own name in the root's top folder, never a guessed subfolder."""
    root = tmp_path / "comp"
    area = ClaimArea(root, "vm.11.iabcdef0")
    area.folder.mkdir(parents=True)
    (area.folder / f"0123456789ab.{FRAME.format(1001)}").write_bytes(b"x")
    with capture_logs() as logs:
        [claim] = leftover_claims(area.folder)
    assert claim.rel == Path(FRAME.format(1001))
    assert claim.token == "vm.11.iabcdef0.0123456789ab"
    assert [(e["event"], e["action"]) for e in logs] == [
        ("ingest.recovered", "returned_unknown_origin")]


def test_frames_with_names_too_long_to_prefix_are_claimed_apart(tmp_path: Path) -> None:
    """Two long-named frames of one sequence keep distinct claimed names, so none is lost."""
    root = tmp_path / "comp"
    long = "TST_SQ010_SH0010_" + "x" * 220 + "_v001.{:04d}.png"
    area = ClaimArea(root, "vm.13.iabcdef0")
    claims = [area.claim(_drop(root, long.format(n)), Path(long.format(n)), random="0123456789ab")
              for n in (1001, 1002)]
    assert all(c is not None for c in claims)
    assert len(os.listdir(area.folder)) == 3  # two frames and the journal
    assert {c.rel for c in leftover_claims(area.folder)} == {Path(long.format(n))
                                                            for n in (1001, 1002)}


def test_compaction_keeps_the_line_of_a_claim_whose_rename_is_under_way(tmp_path: Path) -> None:
    """A line journaled by one thread survives another thread's compaction before its rename."""
    root = tmp_path / "comp"
    area = ClaimArea(root, "vm.17.iabcdef0")
    journal = claims._journal_of(area.folder)
    staged = f"0123456789ab.{FRAME.format(1001)}"
    journal.record(staged, "0123456789ab", Path("sub") / FRAME.format(1001))
    for i in range(1500):  # claims of files already gone: lines compaction may drop
        assert area.claim(root / f"gone{i}.mov", Path(f"gone{i}.mov")) is None
    assert len((area.folder / JOURNAL).read_bytes().splitlines()) < 1500
    (area.folder / staged).write_bytes(b"frame")  # the rename lands
    journal.landed(staged)
    [claim] = leftover_claims(area.folder)
    assert claim.rel == Path("sub") / FRAME.format(1001)
