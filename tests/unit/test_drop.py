"""What artists find in their drop folders: set-aside files with notes, nothing overwritten."""

from __future__ import annotations

from pathlib import Path

from axiomd.watcher.drop import (
    ACCEPTED,
    REJECTED,
    Receipt,
    free_name,
    rejection_note,
    set_aside,
    write_receipts,
)


def test_a_taken_name_gets_a_number_before_its_extension(tmp_path: Path) -> None:
    (tmp_path / "a.mov").write_text("x")
    assert free_name(tmp_path / "a.mov") == tmp_path / "a-1.mov"


def test_a_rejected_file_keeps_its_subfolder_and_gets_a_note(tmp_path: Path) -> None:
    source = tmp_path / "sub" / "bad.mov"
    source.parent.mkdir()
    source.write_text("x")
    target = set_aside(tmp_path, Path("sub/bad.mov"), source, REJECTED, note="why")
    assert target == tmp_path / REJECTED / "sub" / "bad.mov"
    assert (tmp_path / REJECTED / "sub" / "bad.mov.rejected.txt").read_text() == "why"


def test_a_rejection_note_says_why_what_is_expected_and_gives_an_example() -> None:
    note = rejection_note("bad.mov", "show: expected [A-Z]+", "TST_v001.mov", "{show}_v{version}")
    assert "Why: show: expected [A-Z]+" in note and "TST_v001.mov" in note


def test_receipts_land_in_accepted_beside_their_subfolders(tmp_path: Path) -> None:
    failed = write_receipts([Receipt(tmp_path, Path("a.mov"), "took a"),
                             Receipt(tmp_path, Path("sub/b.mov"), "took b"),
                             Receipt(tmp_path, Path("c.mov"), "took c")])
    assert failed == []
    assert (tmp_path / ACCEPTED / "a.mov.txt").read_text() == "took a"
    assert (tmp_path / ACCEPTED / "sub" / "b.mov.txt").read_text() == "took b"
    assert (tmp_path / ACCEPTED / "c.mov.txt").read_text() == "took c"


def test_a_receipt_that_cannot_be_written_is_reported_and_its_neighbours_still_land(
        tmp_path: Path) -> None:
    (tmp_path / ACCEPTED / "a.mov.txt").mkdir(parents=True)  # a folder in the receipt's place
    failed = write_receipts([Receipt(tmp_path, Path("a.mov"), "took a"),
                             Receipt(tmp_path, Path("b.mov"), "took b")])
    assert [path for path, _ in failed] == [tmp_path / "a.mov"]
    assert (tmp_path / ACCEPTED / "b.mov.txt").read_text() == "took b"


def test_receipts_never_follow_an_accepted_folder_replaced_by_a_link(tmp_path: Path) -> None:
    root, outside = tmp_path / "drop", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / ACCEPTED).symlink_to(outside, target_is_directory=True)
    assert write_receipts([Receipt(root, Path("a.mov"), "took a")]) == []
    assert list(outside.iterdir()) == []
    assert (root / ACCEPTED / "a.mov.txt").read_text() == "took a"
