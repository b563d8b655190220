"""`Ingestor.ingest_staged`: bytes already staged and hashed get a dropped file's checks."""

from __future__ import annotations

from pathlib import Path

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.config import load_config
from axiomd.store import StagedFile, hash_file


def staged_file(app: App, token: str, content: bytes) -> StagedFile:
    path = app.store.staged_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    checksum, size = hash_file(path)
    return StagedFile(token, path, checksum, size)


def test_staged_bytes_become_a_version_without_a_copy(write_config, sqlite_url: str) -> None:
    """The staged file itself is renamed into the store; its submitter and note are kept."""
    app = App(load_config(write_config(sqlite_url)))
    schema.upgrade(app.engine)
    staged = staged_file(app, "host.1.i0000000.abc", b"frames")
    inode = staged.path.stat().st_ino
    name = "TST_SQ010_SH0010_comp_v001.mov"
    outcome = app.ingestor.ingest_staged(staged, name, app.config.rule_for(
        app.config.watch.roots[0]), origin=Path(f"upload:{name}"), user="alice", note="hi")
    assert outcome.status == "accepted" and outcome.version is not None
    assert (outcome.version.submitted_by, outcome.version.note) == ("alice", "hi")
    assert app.store.path(outcome.version.store_path).stat().st_ino == inode
    app.close()


def test_a_wrong_name_discards_the_staged_bytes(write_config, sqlite_url: str) -> None:
    """Refused: the reason is the naming rule's, and nothing stays in staging."""
    app = App(load_config(write_config(sqlite_url)))
    schema.upgrade(app.engine)
    staged = staged_file(app, "host.1.i0000000.abd", b"frames")
    outcome = app.ingestor.ingest_staged(staged, "bad.mov", app.config.rule_for(
        app.config.watch.roots[0]), origin=Path("upload:bad.mov"), user="alice")
    assert outcome.status == "rejected" and "field 'show'" in outcome.reason
    assert not staged.path.exists()
    app.close()


def test_an_uploads_sink_writes_and_hashes_every_batch_in_order(tmp_path: Path) -> None:
    """Batches offered (or put, when the queues are full) arrive whole and in order."""
    import hashlib

    from axiomd.store import Store
    from axiomd.web.sink import Sink

    sink = Sink(Store(tmp_path / "store"), "host.1.i0000000.abe")
    batches = [bytes([i]) * 1000 + bytes([i + 1]) * 7 for i in range(0, 200, 2)]
    for batch in batches:
        if not sink.offer(batch):
            sink.put(batch)
    staged = sink.close()
    everything = b"".join(batches)
    assert staged.path.read_bytes() == everything
    assert (staged.checksum, staged.size) == (hashlib.sha256(everything).hexdigest(),
                                               len(everything))
