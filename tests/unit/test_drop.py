"""What artists find in their drop folders: set-aside files with notes, nothing overwritten."""

from __future__ import annotations

from pathlib import Path

from axiomd.watcher.drop import REJECTED, free_name, rejection_note, set_aside


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
