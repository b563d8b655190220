"""A daemon running as its own user on a group-writable share (umask 002), as studios run it.

The test makes a real system group and two real users (the daemon's, an artist's), runs
the watcher as the daemon's user with `setpriv`, and removes them all afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from axiomd.catalog import schema
from axiomd.catalog.db import make_engine
from tests.faults.test_hostile_integrity import versions
from tests.helpers import CONFIG_TEMPLATE, wait_for

NAME = "TST_SQ010_SH{:04d}_comp_v001.mov"


@dataclass
class Share:
    base: Path
    drop: Path
    store: Path
    config: Path
    daemon_user: str
    artist_uid: int
    gid: int


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def share(pg_url: str) -> Iterator[Share]:
    tag = uuid.uuid4().hex[:6]
    group, daemon_user, artist = f"axtg{tag}", f"axtd{tag}", f"axta{tag}"
    _run("groupadd", "--system", group)
    _run("useradd", "--system", "--no-create-home", "-g", group, "-s", "/usr/sbin/nologin",
         daemon_user)
    _run("useradd", "--system", "--no-create-home", "-g", group, "-s", "/usr/sbin/nologin",
         artist)
    base = Path(tempfile.mkdtemp(prefix="axt-share-"))
    try:
        base.chmod(0o755)
        gid = pwd.getpwnam(daemon_user).pw_gid
        drop, store = base / "drop" / "comp", base / "store"
        drop.mkdir(parents=True)
        for folder in (drop.parent, drop):
            os.chown(folder, 0, gid)
            folder.chmod(0o2775)
        store.mkdir()
        os.chown(store, pwd.getpwnam(daemon_user).pw_uid, gid)
        config = base / "axiomd.toml"
        config.write_text(CONFIG_TEMPLATE.format(
            db_url=pg_url, broker_url="", prefix=f"t{tag}", settle=0.3, rescan=60,
            sequence_settle=0.8, policy="reject", max_attempts=3, lease=30,
            retry_delays="[0.2]", jobs='["probe"]', level="info", extra_worker="",
            extra_watch=""))
        yield Share(base, drop, store, config, daemon_user, pwd.getpwnam(artist).pw_uid, gid)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for user in (daemon_user, artist):
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)


class UserWatcher:
    """`axiomd watch` as the daemon's own user, not root."""

    def __init__(self, share: Share) -> None:
        self.log = share.base / f"watch-{uuid.uuid4().hex[:6]}.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={share.daemon_user}", f"--regid={share.gid}",
             "--clear-groups", sys.executable, "-m", "axiomd", "--config", str(share.config),
             "watch"],
            stdout=self._out, stderr=subprocess.STDOUT, cwd=share.base)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def artist_drops(share: Share, n: int, mode: int = 0o664) -> Path:
    """A file of the artist's, in the group, as umask 002 leaves it."""
    tmp = share.base / f".incoming-{n}"
    tmp.write_bytes(os.urandom(4096) + str(n).encode())
    os.chown(tmp, share.artist_uid, share.gid)
    tmp.chmod(mode)
    target = share.drop / NAME.format(n)
    os.rename(tmp, target)
    return target


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()


def test_group_writable_file_of_another_user_is_copied_and_published(
        share: Share, engine: Engine) -> None:
    """The daemon's user cannot chmod the artist's file, so it copies it into the store."""
    watcher = UserWatcher(share)
    try:
        wait_for(lambda: "watch.started" in watcher.text(), 30, "the watcher to start")
        dropped = artist_drops(share, 10)
        wait_for(lambda: versions(engine) and not dropped.exists(), 30, "the version")
        stored = share.store / versions(engine)[0][3]
        assert stored.stat().st_uid == pwd.getpwnam(share.daemon_user).pw_uid
        assert stored.stat().st_mode & 0o777 == 0o444
        assert "ingest.deferred" not in watcher.text()
    finally:
        watcher.stop()


def test_unreadable_file_is_set_aside_and_later_files_flow_across_a_restart(
        share: Share, engine: Engine) -> None:
    """A file the daemon cannot take gets a note; it never blocks the root or a restart."""
    watcher = UserWatcher(share)
    try:
        wait_for(lambda: "watch.started" in watcher.text(), 30, "the watcher to start")
        artist_drops(share, 10, mode=0o600)
        wait_for(lambda: (share.drop / "_rejected").is_dir()
                 and any((share.drop / "_rejected").glob("*.rejected.txt")), 30,
                 "the unreadable file to be set aside with a note")
        artist_drops(share, 20)
        wait_for(lambda: len(versions(engine)) == 1, 30, "the later file's version")
    finally:
        watcher.stop()
    again = UserWatcher(share)
    try:
        wait_for(lambda: "watch.started" in again.text(), 30, "the watcher to start again")
        artist_drops(share, 30)
        wait_for(lambda: len(versions(engine)) == 2, 30, "a version after the restart")
        assert again.proc.poll() is None
    finally:
        again.stop()
