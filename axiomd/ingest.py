"""Turning one file into one version: validate → hash → stage → allocate → publish.

`axiomd ingest` and the watcher both come through `Ingestor.ingest`, so a file gets
exactly the same treatment by hand as from a drop folder.

Ordering, and why nothing is lost on a crash at any point:
1. the file is staged in the store under a fresh token (hard link or fsynced copy);
   its source is left untouched;
2. one transaction allocates the version, its jobs and outbox rows, recording the token;
3. the staged file is renamed to its final path (`Store.publish`);
4. only then may the caller remove the source.
A crash before 2 leaves the source in place and garbage under `.staging/<token>`; a crash
between 2 and 3 leaves a committed version whose token still names a staged file, which
`recover_staged` publishes. Either way re-running never makes a second version.

Longer than most modules on purpose: every way a file becomes a version (a drop, `axiomd
ingest`, an upload, a sequence, a derive) goes through the one commit-and-publish order
below, and keeping them in one class keeps that order in one place.
"""

from __future__ import annotations

import functools
import os
import pwd
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy.engine import Engine

from axiomd import identity
from axiomd.catalog.jobs import release_waiting
from axiomd.catalog.versions import (
    JobSpec,
    NewVersion,
    Refusal,
    VersionInfo,
    allocate_version,
    allocate_versions,
    find_by_token,
    get_asset,
    get_version,
)
from axiomd.config import Config
from axiomd.errors import (
    DuplicateContent,
    NameRejected,
    SourceUnreadable,
    StoreError,
    VersionConflict,
    VersionGap,
)
from axiomd.handover import (
    CHANGED,
    STILL_OPEN,
    Fingerprint,
    fingerprint,
    may_link,
    open_for_writing,
)
from axiomd.identity import left_by_dead_process, new_token, token_owner
from axiomd.log import get_logger
from axiomd.naming import NamingRule, ParsedName
from axiomd.review import check_derivable
from axiomd.sequences import (
    Frame,
    frame_of,
    frame_range,
    is_sequence,
    sequence_name,
    store_pattern,
)
from axiomd.store import StagedFile, Store, version_relpath

log = get_logger("ingest")


class UnpublishedVersion(StoreError):
    """A version is committed but its file could not yet be moved into place in the store.

    The bytes stay staged under the version's ingest token; publishing is retried (by
    the watcher, or by the next watcher start on this host), and jobs wait for it.
    """

    def __init__(self, version: VersionInfo, staged: StagedFile, cause: StoreError) -> None:
        super().__init__(f"{version.asset} {version.label} is recorded but its file could not "
                         f"be moved into the store yet ({cause}); it stays staged as "
                         f"{staged.token} and is published once the store can take it "
                         "(by the running watcher, or by the next `axiomd ingest` or watcher "
                         "start on this host)")
        self.version, self.staged = version, staged


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: `accepted` with a version, or why not."""

    status: str
    file: str
    reason: str = ""
    version: VersionInfo | None = None
    duplicate_of: str | None = None
    field: str | None = None
    suggestion: str | None = None  # a name that would be taken now, for the artist


class HowToIngest(TypedDict, total=False):
    """`Ingestor.prepare`'s options, which `ingest` passes on."""

    link: Required[bool]
    token: str | None
    origin: Path | None
    expected_size: int | None
    name: str | None
    allow_gap: bool
    note: str | None
    user: str | None
    task: str | None


@dataclass(frozen=True)
class Ready:
    """A file staged and hashed in the store, waiting for its number (`Ingestor.commit`)."""

    staged: StagedFile
    request: NewVersion
    origin: Path
    started: float
    render: Callable[[int], str]  # the artist's file name under another number


def _refused(origin: Path, reason: str, field: str | None,
             suggestion: str | None = None) -> Outcome:
    log.info("ingest.rejected", file=str(origin), reason=reason, field=field)
    return Outcome("rejected", str(origin), reason, field=field, suggestion=suggestion)


def _changed(origin: Path, reason: str, size: int) -> Outcome:
    """Someone is still writing the file: nothing is allocated, it settles again."""
    log.info("ingest.changed_after_claim", file=str(origin), reason=reason, size=size)
    return Outcome("changed", str(origin), reason)


def _refusal(ready: Ready, refusal: Refusal) -> Outcome:
    """What a file the catalog gave no number is told: duplicate, early, or why refused."""
    origin = ready.origin
    if isinstance(refusal, DuplicateContent):
        log.info("ingest.duplicate", file=str(origin), asset=refusal.asset,
                 duplicate_of=refusal.version_label, checksum=ready.staged.checksum)
        return Outcome("duplicate", str(origin), str(refusal), duplicate_of=refusal.version_label)
    if isinstance(refusal, VersionGap):
        log.info("ingest.early", file=str(origin), asset=refusal.asset,
                 requested=refusal.requested, next=refusal.next_number)
        return Outcome("early", str(origin), str(refusal))
    if isinstance(refusal, VersionConflict):
        suggestion = (ready.render(refusal.next_number)
                      if refusal.next_number is not None else None)
        return _refused(origin, str(refusal), "version", suggestion)
    return _refused(origin, str(refusal), "version")


def jobs_for(config: Config) -> list[JobSpec]:
    return [JobSpec(name, config.transcode.presets[name].kind) for name in config.transcode.jobs]


def current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def file_owner(path: Path) -> str:
    try:
        return user_name(path.stat().st_uid)
    except OSError:
        return ""


@functools.lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    """The account name of `uid`, "" if it has none. Remembered: with LDAP behind the
    passwd database, asking for every file of a burst is a network call each."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


class Ingestor:
    """Validates, stores and versions files for one catalog and store."""

    def __init__(self, config: Config, engine: Engine, store: Store) -> None:
        self.config = config
        self.engine = engine
        self.store = store
        self.jobs: Sequence[JobSpec] = jobs_for(config)
        self.host = identity.host()

    def reconfigure(self, config: Config) -> None:
        """A re-read config: naming rules and the jobs new versions get."""
        self.config = config
        self.jobs = jobs_for(config)

    def tidy_store(self) -> None:
        self.store.tidy()

    def finish_claimed(self, claimed: Path, token: str) -> VersionInfo | None:
        """A claimed file a dead process left: if its version was committed, make sure the
        version's file is in the store and return the version; None if it never was."""
        version = find_by_token(self.engine, token)
        if version is None:
            return None
        # A sequence's store side was published by recover_staged already.
        if not is_sequence(version.store_path) and not self.store.path(version.store_path).exists():
            st = os.lstat(claimed)
            linkable = may_link(st, open_for_writing(claimed))
            self.store.publish(self.store.stage(claimed, token, link=linkable), version.store_path)
            self._published_late(version)
        return version

    def rule_for_path(self, path: Path, root_name: str | None) -> NamingRule:
        """The naming rule for a file: its drop root's, or the only/first rule there is."""
        if root_name:
            return self.config.rule_for(self.config.root(root_name))
        resolved = path.resolve()
        for root in self.config.watch.roots:
            if resolved.is_relative_to(root.path):
                return self.config.rule_for(root)
        return next(iter(self.config.naming.values()))

    def check_name(self, name: str, rule: NamingRule) -> ParsedName:
        parsed = rule.parse(name)
        if not isinstance(parsed, ParsedName):
            raise NameRejected(parsed)
        return parsed

    def ingest(self, source: Path, rule: NamingRule, **how: Unpack[HowToIngest]) -> Outcome:
        """Version `source` (`prepare`, then `commit` alone); the caller removes the source
        afterwards if it wants to. Raises UnpublishedVersion if the store refused the
        committed version's file."""
        ready = self.prepare(source, rule, **how)
        return ready if isinstance(ready, Outcome) else self._one(ready)

    def prepare(
        self,
        source: Path,
        rule: NamingRule,
        *,
        link: bool,
        token: str | None = None,
        origin: Path | None = None,
        expected_size: int | None = None,
        name: str | None = None,
        allow_gap: bool = False,
        note: str | None = None,
        user: str | None = None,
        task: str | None = None,
    ) -> Outcome | Ready:
        """Check and stage `source` for its number, or say what stops it. A watcher
        prepares many files, then `commit`s them together.

        `link` hard-links into the store where possible (the watcher, which then drops the
        source); otherwise the bytes are copied and the source stays as it was.
        `expected_size` is what the watcher saw settle: if the staged bytes differ, someone
        is still writing and the outcome is `changed`, with nothing allocated. `name` is the
        file's name as the artist gave it, when `source` is a claimed copy. A number past
        the asset's next one is `early` (nothing allocated) unless `allow_gap`. `note` and
        `user` are the publish context (a farm submitting for an artist names the artist);
        without `user` the file's owner is recorded.
        """
        started = time.monotonic()
        origin = origin or source
        name = name or source.name
        try:
            parsed = self.check_name(name, rule)
        except NameRejected as exc:
            return _refused(origin, str(exc), getattr(exc.rejection, "field", None))
        token = token or new_token()
        try:
            st = os.lstat(source)
        except OSError as exc:
            return _refused(origin, f"cannot read {name}: {exc.strerror}", None)
        writing = open_for_writing(source)
        if writing:
            return _changed(origin, STILL_OPEN, st.st_size)
        try:
            staged = self.store.stage(source, token, link=link and may_link(st, writing))
        except SourceUnreadable as exc:
            return _refused(origin, str(exc), None)
        if (fingerprint(source) != Fingerprint.of(st)
                or (expected_size is not None and staged.size != expected_size)):
            self.store.discard_staged(token)
            return _changed(origin, CHANGED, staged.size)
        return self._ready(staged, parsed, rule, name, origin, user or user_name(st.st_uid),
                           started, allow_gap=allow_gap, note=note, task=task)

    def ingest_staged(self, staged: StagedFile, name: str, rule: NamingRule, *,
                      origin: Path, user: str, note: str | None = None) -> Outcome:
        """Version bytes already staged and hashed in the store (an HTTP upload, hashed as
        it streamed in): the same name check and allocation as a dropped file, without a
        second copy. Refused bytes are discarded; nothing else holds them."""
        started = time.monotonic()
        try:
            parsed = self.check_name(name, rule)
        except NameRejected as exc:
            self.store.discard_staged(staged.token)
            return _refused(origin, str(exc), getattr(exc.rejection, "field", None))
        return self._one(self._ready(staged, parsed, rule, name, origin, user, started,
                                     note=note))

    def ingest_sequence(
        self,
        frames: Sequence[tuple[Path, Frame | None]],
        rule: NamingRule,
        *,
        link: bool,
        token: str,
        origin: Path,
        allow_gap: bool = False,
        note: str | None = None,
        user: str | None = None,
        task: str | None = None,
    ) -> Outcome:
        """Version an image sequence (`name.1001.exr` …) as one version.

        The frames are checked as one name (`name.exr`), staged together, and published as
        the version folder in one rename; missing frames are recorded on the version.
        """
        started = time.monotonic()
        numbered = [(path, f) for path, f in frames if f is not None]
        first = numbered[0][1]
        try:
            parsed = self.check_name(first.sequence_name, rule)
        except NameRejected as exc:
            return _refused(origin, str(exc), getattr(exc.rejection, "field", None))
        try:
            before = {p: os.lstat(p) for p, _ in numbered}
        except OSError as exc:
            return _refused(origin, f"cannot read a frame: {exc.strerror}", None)
        writing = {p: open_for_writing(p) for p in before}
        if any(writing.values()):
            return _changed(origin, STILL_OPEN, sum(st.st_size for st in before.values()))
        linkable = link and all(may_link(st, writing[p]) for p, st in before.items())
        try:
            staged = self.store.stage_sequence([(p, f.number) for p, f in numbered], token,
                                               link=linkable)
        except SourceUnreadable as exc:
            return _refused(origin, str(exc), None)
        if any(fingerprint(p) != Fingerprint.of(st) for p, st in before.items()):
            self.store.discard_staged(token)
            return _changed(origin, CHANGED, staged.size)
        span = frame_range(f.number for _, f in numbered)
        if span.missing:
            log.warning("ingest.sequence_gaps", file=str(origin), frames=span.frames,
                        missing=list(span.missing))

        def pattern(fields: Mapping[str, str], n: int) -> str:
            rendered = rule.render(fields, n)
            return store_pattern(rendered[: -len(first.ext) - 1], first.padding, first.ext)

        return self._one(self._ready(staged, parsed, rule, str(origin.name), origin,
                                     user or file_owner(numbered[0][0]), started,
                                     file_name=pattern, media={"sequence": span.to_json()},
                                     allow_gap=allow_gap,
                                     note=note, task=task))

    def ingest_frames(self, frames: Sequence[Path], rule: NamingRule, *,
                      note: str | None = None, user: str | None = None,
                      task: str | None = None) -> Outcome:
        """`axiomd ingest name.####.exr`: copy an image sequence in by hand, as the watcher
        would take it from a drop folder; the frames stay where they are."""
        numbered = [(path, frame_of(path.name)) for path in sorted(frames)]
        first = numbered[0]
        assert first[1] is not None
        origin = first[0].parent / store_pattern(first[1].stem, first[1].padding, first[1].ext)
        return self.ingest_sequence(numbered, rule, link=False, token=new_token(),
                                    origin=origin, allow_gap=True, note=note, user=user,
                                    task=task)

    def _ready(self, staged: StagedFile, parsed: ParsedName, rule: NamingRule, name: str,
               origin: Path, owner: str, started: float, *,
               file_name: Callable[[Mapping[str, str], int], str] | None = None,
               media: Mapping[str, Any] | None = None, allow_gap: bool = False,
               note: str | None = None, task: str | None = None) -> Ready:
        """What `commit` needs; the store's file name is the rule's unless `file_name`
        (a sequence's frame pattern) says otherwise."""
        name_in_store = file_name or rule.render
        identity_values = [v for _, v in parsed.identity]
        request = NewVersion(
            asset=parsed.asset,
            naming=rule.name,
            identity=dict(parsed.identity),
            checksum=staged.checksum,
            size=staged.size,
            original_name=name,
            store_path=lambda n: version_relpath(identity_values, n,
                                                 name_in_store(parsed.fields, n)),
            requested_number=parsed.requested_number,
            version_policy=rule.version_policy,
            submitted_by=owner,
            origin_host=self.host,
            origin_path=str(origin),
            ingest_token=staged.token,
            media=media,
            allow_gap=allow_gap,
            note=note or None,
            task=task or None,
        )
        return Ready(staged, request, origin, started, lambda n: rule.render(parsed.fields, n))

    def _one(self, ready: Ready) -> Outcome:
        outcome = self.commit([ready])[0]
        if isinstance(outcome, UnpublishedVersion):
            raise outcome
        return outcome

    def commit(self, ready: Sequence[Ready]) -> list[Outcome | UnpublishedVersion]:
        """Number, publish and report staged files together (group commit): one
        transaction for all, then every file moved into the store and each store folder
        synced once. Each file's crash-safety order is kept: staged before the commit,
        published after it, and the caller removes sources only after this returns.
        An outage (the catalog unreachable) raises, with every staged file discarded.
        """
        try:
            numbered = self.number(ready)
        except BaseException:
            self.abandon(ready)
            raise
        return self.publish(ready, numbered)

    def number(self, ready: Sequence[Ready]) -> list[VersionInfo | Refusal]:
        """The catalog's half of `commit`: each file's version (or why it gets none) in
        one transaction. An outage raises; the staged files are the caller's to abandon."""
        if not ready:
            return []
        return allocate_versions(self.engine, [r.request for r in ready], self.jobs,
                                 with_outbox=not self.config.broker.embedded)

    def publish(self, ready: Sequence[Ready],
                numbered: Sequence[VersionInfo | Refusal]) -> list[Outcome | UnpublishedVersion]:
        """The store's half of `commit`: numbered files moved into place, refused ones'
        staged copies discarded; each file's outcome."""
        versions = [(r, v) for r, v in zip(ready, numbered, strict=True)
                    if isinstance(v, VersionInfo)]
        published = iter(self.store.publish_many([(r.staged, v.store_path) for r, v in versions]))
        outcomes: list[Outcome | UnpublishedVersion] = []
        for r, result in zip(ready, numbered, strict=True):
            if not isinstance(result, VersionInfo):
                self.store.discard_staged(r.staged.token)
                outcomes.append(_refusal(r, result))
                continue
            where = next(published)
            outcomes.append(UnpublishedVersion(result, r.staged, where)
                            if isinstance(where, StoreError)
                            else self._accepted(result, r.origin, r.started))
        return outcomes

    def abandon(self, ready: Sequence[Ready]) -> None:
        """Staged files that will not be numbered now: their store copies go."""
        for r in ready:
            self.store.discard_staged(r.staged.token)

    def finish_publishing(self, held: UnpublishedVersion, origin: Path) -> Outcome:
        """Publish a committed version the store refused earlier; StoreError while it still does."""
        self.store.publish(held.staged, held.version.store_path)
        self._published_late(held.version)
        return self._accepted(held.version, origin, None)

    def _published_late(self, version: VersionInfo) -> None:
        """Jobs that found the source missing wait for it: they can run now."""
        release_waiting(self.engine, version.id, with_outbox=not self.config.broker.embedded)

    @staticmethod
    def _accepted(version: VersionInfo, origin: Path, started: float | None) -> Outcome:
        took = None if started is None else round((time.monotonic() - started) * 1000, 1)
        log.info("ingest.accepted", file=str(origin), asset=version.asset,
                 version=version.label, version_id=version.id, checksum=version.checksum,
                 size=version.size, duration_ms=took)
        return Outcome("accepted", str(origin), version=version)

    def derive(self, asset: str, from_number: int, by: str | None = None,
               note: str | None = None) -> VersionInfo:
        """A new version with `from_number`'s content and that version as its parent.

        This is rollback: nothing is rewritten, the old content simply becomes current
        again under a new number, and lineage records where it came from. A deprecated
        version is refused (`review.check_derivable`): review it `pending` first.
        """
        source = get_version(self.engine, asset, from_number)
        check_derivable(asset, source.label, source.review)
        info = get_asset(self.engine, asset)
        rule = self.config.naming.get(info.naming)
        stored = self.store.path(source.store_path)
        old_name = stored.name  # the file name (or frame pattern) the old number gave it
        sequence = is_sequence(old_name)
        parsed = rule.parse(sequence_name(old_name) if sequence else old_name) if rule else None
        fields = parsed.fields if isinstance(parsed, ParsedName) else None

        def file_name(n: int) -> str:
            if rule is None or fields is None:
                return old_name
            rendered = rule.render(fields, n)
            if not sequence:
                return rendered
            stem, ext = rendered.rsplit(".", 1)
            return store_pattern(stem, old_name.count("#"), ext)

        token = new_token()
        if sequence:
            frames = [(p, f.number) for p in stored.parent.iterdir()
                      if (f := frame_of(p.name)) is not None]
            staged = self.store.stage_sequence(frames, token, link=True)
        else:
            staged = self.store.stage(stored, token, link=True)
        identity_values = list(info.identity.values())
        request = NewVersion(
            asset=asset,
            naming=info.naming,
            identity=info.identity,
            checksum=source.checksum,
            size=source.size,
            original_name=source.original_name,
            store_path=lambda n: version_relpath(identity_values, n, file_name(n)),
            media={"sequence": source.media["sequence"]}
            if sequence and source.media and "sequence" in source.media else None,
            parent_number=from_number,
            submitted_by=by or current_user(),
            note=note or None,
            origin_host=self.host,
            origin_path=f"derived from {source.label}",
            ingest_token=staged.token,
            check_duplicate=False,
        )
        version = self._commit(staged, request)
        log.info("version.derived", asset=asset, version=version.label, version_id=version.id,
                 parent=source.label)
        return version

    def _commit(self, staged: StagedFile, request: NewVersion) -> VersionInfo:
        """Allocate a derived version, then publish it; undo the staging on refusal."""
        try:
            version = allocate_version(self.engine, request, self.jobs,
                                       with_outbox=not self.config.broker.embedded)
        except BaseException:
            self.store.discard_staged(staged.token)
            raise
        try:
            self.store.publish(staged, version.store_path)
        except StoreError as exc:
            raise UnpublishedVersion(version, staged, exc) from exc
        return version

    def recover_staged(self, adopted: Collection[str] = ()) -> int:
        """Finish or clear what crashed processes left in the store's staging: those of
        this host, and the `adopted` processes (of any host) a watcher took over.

        A token with a committed version is published; a token without one is discarded
        (its source is still where it came from). Tokens of live processes are left alone.
        """
        recovered = 0
        for token in self.store.staged_tokens():
            made_by = token.rpartition(".")[0]
            if made_by not in adopted and not left_by_dead_process(token_owner(token)):
                continue
            version = find_by_token(self.engine, token)
            staged = self.store.staged_path(token)
            if version is not None:
                self.store.publish(StagedFile(token, staged, version.checksum, version.size),
                                   version.store_path)
                self._published_late(version)
                log.info("ingest.recovered", file=str(staged), asset=version.asset,
                         version=version.label, version_id=version.id, action="published")
                recovered += 1
            else:
                self.store.discard_staged(token)
        return recovered
