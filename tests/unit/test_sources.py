"""Which paths in a drop root are the artist's: the watcher asks for every event."""

from __future__ import annotations

from pathlib import Path

import pytest

from axiomd.config import DropRoot
from axiomd.watcher.sources import parts_under, wanted

ROOT = DropRoot(name="comp", path=Path("/srv/drop/comp"))


@pytest.mark.parametrize(("path", "parts"), [
    ("/srv/drop/comp", []),
    ("/srv/drop/comp/a.mov", ["a.mov"]),
    ("/srv/drop/comp/sub/a.mov", ["sub", "a.mov"]),
    ("/srv/drop/compositing/a.mov", None),
    ("/srv/drop/a.mov", None),
])
def test_parts_under_a_folder_are_what_relative_to_gives(path: str, parts: list[str] | None
                                                          ) -> None:
    assert parts_under(ROOT.path, Path(path)) == parts
    expected = list(Path(path).relative_to(ROOT.path).parts) if parts is not None else None
    assert parts == expected


def test_everything_is_under_the_file_systems_root() -> None:
    assert parts_under(Path("/"), Path("/srv/a.mov")) == ["srv", "a.mov"]


@pytest.mark.parametrize(("path", "is_wanted"), [
    ("/srv/drop/comp/a.mov", True),
    ("/srv/drop/comp/sub/a.mov", True),
    ("/srv/drop/comp/_rejected/a.mov", False),
    ("/srv/drop/comp/.axiomd/claims/x", False),
    ("/srv/drop/comp/a.mov.axiomd.json", False),
    ("/srv/drop/comp/a.mov.tmp", False),
    ("/srv/drop/comp", False),
    ("/srv/drop/other/a.mov", False),
])
def test_wanted_files_are_the_artists_own(path: str, is_wanted: bool) -> None:
    assert wanted(ROOT, Path(path), ["*.tmp"]) is is_wanted


def test_a_flat_root_wants_no_files_in_subfolders() -> None:
    flat = DropRoot(name="comp", path=ROOT.path, recursive=False)
    assert wanted(flat, ROOT.path / "a.mov", [])
    assert not wanted(flat, ROOT.path / "sub" / "a.mov", [])
