"""Publishing into the store's folders: made as needed, even after someone removed them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from axiomd.errors import StoreError
from axiomd.store import StagedFile, Store


def _publish(store: Store, tmp_path: Path, relpath: str) -> Path:
    token = relpath.replace("/", "-")
    source = tmp_path / token
    source.write_bytes(relpath.encode())
    staged = store.stage(source, token, link=True)
    return store.publish(staged, relpath)


def test_a_new_asset_gets_its_folders_and_a_known_one_its_next_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    first = _publish(store, tmp_path, "TST/SQ010/SH0010/comp/v001/a_v001.mov")
    second = _publish(store, tmp_path, "TST/SQ010/SH0010/comp/v002/a_v002.mov")
    assert first.read_bytes() == b"TST/SQ010/SH0010/comp/v001/a_v001.mov"
    assert second.read_bytes() == b"TST/SQ010/SH0010/comp/v002/a_v002.mov"


def test_folders_removed_from_under_a_running_store_are_made_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    _publish(store, tmp_path, "TST/SQ010/SH0010/comp/v001/a_v001.mov")
    shutil.rmtree(tmp_path / "store" / "TST")
    again = _publish(store, tmp_path, "TST/SQ010/SH0010/comp/v002/a_v002.mov")
    assert again.is_file()


def test_publishing_again_after_it_succeeded_is_harmless(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    source = tmp_path / "a.mov"
    source.write_bytes(b"frames")
    staged = store.stage(source, "tok", link=True)
    final = store.publish(staged, "TST/SQ010/SH0010/comp/v001/a_v001.mov")
    assert store.publish(staged, "TST/SQ010/SH0010/comp/v001/a_v001.mov") == final
    assert final.read_bytes() == b"frames"


def test_a_staged_file_gone_before_publishing_is_a_store_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    staged = StagedFile("tok", tmp_path / "store" / ".staging" / "tok", "0" * 64, 1)
    with pytest.raises(StoreError, match="vanished before it was published"):
        store.publish(staged, "TST/SQ010/SH0010/comp/v001/a_v001.mov")
