"""Where an upload's bytes go: a staged file in the store, hashed and written as they come.

The event loop hands over batches of a few MiB. One thread hashes, another writes, each
behind a queue at most `DEPTH` batches long: receiving, hashing and writing overlap
(hashlib and file writes let go of the GIL), and memory stays bounded whatever the size
of the upload. A write error (the store filled up) stops the upload as a StoreError.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable

from axiomd.errors import StoreError
from axiomd.store import StagedFile, Store

DEPTH = 2
Batch = bytes | None  # None: no more


class Sink:
    def __init__(self, store: Store, token: str) -> None:
        self.store, self.token = store, token
        self.path = store.staged_path(token)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "xb")  # noqa: SIM115 - closed in finish()
        self.digest = hashlib.sha256()
        self.size = 0
        self.error: OSError | None = None
        self.queues: list[queue.Queue[Batch]] = [queue.Queue(DEPTH), queue.Queue(DEPTH)]
        self.threads = [threading.Thread(target=self._drain, args=(q, work), daemon=True,
                                         name=f"upload-{name}")
                        for q, work, name in zip(self.queues, (self._hash, self._write),
                                                 ("hash", "write"), strict=True)]
        for thread in self.threads:
            thread.start()

    def _hash(self, batch: bytes) -> None:
        self.digest.update(batch)
        self.size += len(batch)

    def _write(self, batch: bytes) -> None:
        if self.error is None:
            try:
                self.file.write(batch)
            except OSError as exc:
                self.error = exc

    @staticmethod
    def _drain(source: queue.Queue[Batch], work: Callable[[bytes], None]) -> None:
        while (batch := source.get()) is not None:
            work(batch)

    def offer(self, batch: bytes) -> bool:
        """Queue `batch` if both threads have room (never blocks; event loop side)."""
        self._check()
        if any(q.full() for q in self.queues):
            return False
        for q in self.queues:
            q.put_nowait(batch)
        return True

    def put(self, batch: bytes) -> None:
        """Queue `batch`, waiting for room (from a worker thread)."""
        self._check()
        for q in self.queues:
            q.put(batch)

    def _check(self) -> None:
        if self.error is not None:
            raise StoreError(f"cannot write the upload into the store: {self.error.strerror}")

    def _stop(self) -> None:
        for q in self.queues:
            q.put(None)
        for thread in self.threads:
            thread.join()

    def close(self) -> StagedFile:
        """All bytes written, hashed and fsynced: the staged file."""
        self._stop()
        try:
            self._check()
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            self.error = exc
            self._check()
        finally:
            self.file.close()
        return StagedFile(self.token, self.path, self.digest.hexdigest(), self.size)

    def discard(self) -> None:
        self._stop()
        self.file.close()
        self.store.discard_staged(self.token)
