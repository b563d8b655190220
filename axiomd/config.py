"""Settings from `config/axiomd.toml`, validated once, frozen afterwards.

The file's shape is a public interface (pipeline TDs edit it), so every mistake is
reported as one line naming the key and the problem. Relative paths resolve against the
config file's folder; `AXIOMD_DATABASE_URL` and `AXIOMD_BROKER_URL` override the URLs.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axiomd.errors import ConfigError
from axiomd.naming import NamingRule
from axiomd.qc import CHECKED, QcSpec

DEFAULT_IGNORE = (".*", "*.tmp", "*.part", "~*", "*.crdownload")
DEFAULT_JOBS = ("probe", "proxy_h264", "thumbnail")
DEFAULT_PRESETS: dict[str, dict[str, Any]] = {
    "probe": {"kind": "probe"},
    "proxy_h264": {"kind": "proxy", "max_width": 1920, "crf": 23},
    "thumbnail": {"kind": "thumbnail", "format": "jpg", "max_width": 640},
}
SHOT_RULE: dict[str, Any] = {
    "template": "{show}_{seq}_{shot}_{task}_v{version}.{ext}",
    "identity": ["show", "seq", "shot", "task"],
    "version_policy": "reject",
    "fields": {
        "show": "[A-Z][A-Z0-9]{1,7}",
        "seq": "SQ[0-9]{3,4}",
        "shot": "SH[0-9]{4}",
        "task": "[a-z][a-z0-9]{1,15}",
        "version": "[0-9]{3,4}",
        "ext": ["mov", "mp4", "mxf", "exr", "dpx", "png", "jpg", "tif", "wav"],
    },
}


@dataclass(frozen=True)
class BrokerSettings:
    url: str = ""
    prefix: str = "axiom"

    @property
    def embedded(self) -> bool:
        """No broker URL: jobs are claimed straight from the catalog."""
        return not self.url


@dataclass(frozen=True)
class DropRoot:
    """One watched drop folder and the naming rule its files must follow."""

    name: str
    path: Path
    naming: str
    poll: bool = False
    recursive: bool = True


@dataclass(frozen=True)
class WatchSettings:
    settle_seconds: float = 2.0
    rescan_seconds: float = 60.0
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    roots: tuple[DropRoot, ...] = ()
    ingest_threads: int = 4
    sequence_settle_seconds: float = 10.0
    empty_file_seconds: float = 300.0


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 2
    max_attempts: int = 3
    job_timeout_seconds: float = 3600.0
    lease_seconds: float = 60.0
    retry_delays: tuple[float, ...] = (5.0, 30.0, 120.0)
    prefetch: int = 1
    early_ack_seconds: float = 900.0
    shutdown_grace_seconds: float = 30.0


@dataclass(frozen=True)
class Preset:
    """A named job a version gets: its kind (`probe`, `proxy`, `thumbnail`, …) and options."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TranscodeSettings:
    jobs: tuple[str, ...] = DEFAULT_JOBS
    presets: Mapping[str, Preset] = field(default_factory=dict)
    sequence_fps: float = 24.0

    @property
    def kinds(self) -> list[str]:
        """Every job kind a preset names: one work queue each."""
        return sorted({p.kind for p in self.presets.values()})


@dataclass(frozen=True)
class LoggingSettings:
    format: str = "auto"
    level: str = "info"


@dataclass(frozen=True)
class Config:
    path: Path | None
    database_url: str
    broker: BrokerSettings
    store_root: Path
    watch: WatchSettings
    naming: Mapping[str, NamingRule]
    worker: WorkerSettings
    transcode: TranscodeSettings
    logging: LoggingSettings
    qc: Mapping[str, QcSpec] = field(default_factory=dict)
    store_min_free_bytes: int = 64 * 1024 * 1024  # [store] min_free_bytes: headroom kept free

    def root(self, name: str) -> DropRoot:
        for root in self.watch.roots:
            if root.name == name:
                return root
        known = ", ".join(r.name for r in self.watch.roots) or "none configured"
        raise ConfigError(f"no drop root named {name!r} (known: {known})")

    def rule_for(self, root: DropRoot) -> NamingRule:
        return self.naming[root.naming]


def data_dir() -> Path:
    """Where the embedded default keeps its catalog and store without a config file."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "axiomd"


def find_config_path(explicit: str | None = None) -> Path | None:
    """`--config`, then `AXIOMD_CONFIG`, then `./config/axiomd.toml`, then `/etc/axiomd/`."""
    chosen = explicit or os.environ.get("AXIOMD_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        return path
    for candidate in (Path("config/axiomd.toml"), Path("/etc/axiomd/axiomd.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config; with no file at all, the embedded defaults."""
    env = os.environ if env is None else env
    if path is None:
        data: dict[str, Any] = {}
        base = data_dir()
        source = "built-in defaults"
    else:
        path = Path(path).resolve()
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
        base = path.parent
    return _Reader(source, base).build(data, Path(path) if path else None, env)


class _Reader:
    """Typed access to the TOML tree that names the exact key on every error."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str] | None) -> dict[str, Any]:
        value = _get(data, key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        if allowed is not None:
            for name in value:
                if name not in allowed:
                    raise self.fail(f"{key}.{name}",
                                    f"unknown key (known: {', '.join(sorted(allowed))})")
        return value

    def typed(self, table: Mapping[str, Any], key: str, name: str, kind: type | tuple[type, ...],
              default: Any) -> Any:
        value = table.get(name, default)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = {str: "a string", bool: "true or false", int: "a whole number",
                     (int, float): "a number", list: "a list"}
            raise self.fail(f"{key}.{name}", f"expected {names.get(kind, kind)}, got {value!r}")
        return value

    def positive(self, table: Mapping[str, Any], key: str, name: str, default: float) -> float:
        value = float(self.typed(table, key, name, (int, float), default))
        if value <= 0:
            raise self.fail(f"{key}.{name}", f"must be greater than 0, got {value:g}")
        return value

    def path(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.base / path).resolve()

    def sqlite_url(self, url: str) -> str:
        """Resolve a relative SQLite path against the config folder, as for every path."""
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
            rest = url[len(prefix):]
            if rest != ":memory:":
                return prefix + str(self.path(rest))
        return url

    def build(self, data: Mapping[str, Any], path: Path | None, env: Mapping[str, str]) -> Config:
        for name in data:
            if name not in _SECTIONS:
                raise self.fail(name, f"unknown section (known: {', '.join(sorted(_SECTIONS))})")
        db = self.table(data, "database", {"url"})
        db_url = self.typed(db, "database", "url", str, "")
        db_url = env.get("AXIOMD_DATABASE_URL") or db_url or "sqlite:///var/catalog.db"
        if not db_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:")):
            raise self.fail("database.url", "must start with sqlite:/// or postgresql://")
        broker = self.table(data, "broker", {"url", "prefix"})
        broker_url = env.get("AXIOMD_BROKER_URL") or self.typed(broker, "broker", "url", str, "")
        if broker_url and not broker_url.startswith(("amqp://", "amqps://")):
            raise self.fail("broker.url", "must be empty (embedded) or start with amqp://")
        store = self.table(data, "store", {"root", "min_free_bytes"})
        store_root = self.path(self.typed(store, "store", "root", str, "var/store"))
        min_free = self.typed(store, "store", "min_free_bytes", int, 64 * 1024 * 1024)
        if min_free < 0:
            raise self.fail("store.min_free_bytes", f"must be 0 or more, got {min_free}")

        naming_data = self.table(data, "naming", None)
        if not naming_data:
            naming_data = {"shot": SHOT_RULE}
        naming = {name: self.rule(name, naming_data[name]) for name in naming_data}

        return Config(
            path=path,
            database_url=self.sqlite_url(db_url),
            broker=BrokerSettings(
                url=broker_url,
                prefix=self.typed(broker, "broker", "prefix", str, "axiom"),
            ),
            store_root=store_root,
            store_min_free_bytes=min_free,
            watch=self.watch(self.table(data, "watch", {"settle_seconds", "rescan_seconds",
                                                        "ignore", "roots", "ingest_threads",
                                                        "sequence_settle_seconds",
                                                        "empty_file_seconds"}), naming),
            naming=naming,
            worker=self.worker(self.table(data, "worker", {
                "concurrency", "max_attempts", "job_timeout_seconds", "lease_seconds",
                "retry_delays", "prefetch", "early_ack_seconds", "shutdown_grace_seconds"})),
            transcode=self.transcode(self.table(data, "transcode", {"jobs", "presets",
                                                                    "sequence_fps"})),
            logging=self.logging(self.table(data, "logging", {"format", "level"})),
            qc={show: self.qc(show, spec)
                for show, spec in self.table(data, "qc", None).items()},
        )

    def qc(self, show: str, spec: Any) -> QcSpec:
        key = f"qc.{show}"
        if not isinstance(spec, dict):
            raise self.fail(key, "expected a table of expected values, e.g. fps = 24")
        self.table({key: spec}, key, {*CHECKED, "policy"})
        policy = self.typed(spec, key, "policy", str, "warn")
        if policy not in ("warn", "reject"):
            raise self.fail(f"{key}.policy", f"must be warn or reject, got {policy!r}")
        return QcSpec(show, {k: v for k, v in spec.items() if k != "policy"}, policy)

    def rule(self, name: str, spec: Any) -> NamingRule:
        key = f"naming.{name}"
        if not isinstance(spec, dict):
            raise self.fail(key, "expected a table")
        self.table({key: spec}, key, {"template", "identity", "version_policy", "fields",
                                      "example"})
        fields = self.table(spec, "fields", None)
        for fname, pattern in fields.items():
            if not isinstance(pattern, str | list):
                raise self.fail(f"{key}.fields.{fname}", "expected a regex string or a list")
        try:
            return NamingRule(
                name=name,
                template=self.typed(spec, key, "template", str, ""),
                fields=fields,
                identity=self.typed(spec, key, "identity", list, []),
                version_policy=self.typed(spec, key, "version_policy", str, "reject"),
                example=spec.get("example"),
            )
        except (ValueError, TypeError) as exc:
            raise self.fail(key, str(exc)) from exc
        except Exception as exc:  # re.error from a field pattern
            raise self.fail(key, f"bad pattern: {exc}") from exc

    def watch(self, spec: dict[str, Any], naming: Mapping[str, NamingRule]) -> WatchSettings:
        roots = []
        raw_roots = self.typed(spec, "watch", "roots", list, [])
        for i, raw in enumerate(raw_roots):
            key = f"watch.roots[{i}]"
            if not isinstance(raw, dict):
                raise self.fail(key, "expected a table ([[watch.roots]])")
            self.table({key: raw}, key, {"name", "path", "naming", "poll", "recursive"})
            name = self.typed(raw, key, "name", str, "")
            if not name:
                raise self.fail(f"{key}.name", "every drop root needs a name")
            rule = self.typed(raw, key, "naming", str, next(iter(naming)))
            if rule not in naming:
                raise self.fail(f"{key}.naming",
                                f"no [naming.{rule}] table (known: {', '.join(naming)})")
            if not raw.get("path"):
                raise self.fail(f"{key}.path", "every drop root needs a path")
            roots.append(DropRoot(
                name=name,
                path=self.path(self.typed(raw, key, "path", str, "")),
                naming=rule,
                poll=self.typed(raw, key, "poll", bool, False),
                recursive=self.typed(raw, key, "recursive", bool, True),
            ))
        names = [r.name for r in roots]
        if len(set(names)) != len(names):
            raise self.fail("watch.roots", "two drop roots share a name")
        ignore = self.typed(spec, "watch", "ignore", list, list(DEFAULT_IGNORE))
        return WatchSettings(
            settle_seconds=self.positive(spec, "watch", "settle_seconds", 2.0),
            rescan_seconds=self.positive(spec, "watch", "rescan_seconds", 60.0),
            ignore=tuple(str(g) for g in ignore),
            roots=tuple(roots),
            ingest_threads=int(self.positive(spec, "watch", "ingest_threads", 4)),
            sequence_settle_seconds=self.positive(spec, "watch", "sequence_settle_seconds", 10.0),
            empty_file_seconds=self.positive(spec, "watch", "empty_file_seconds", 300.0),
        )

    def worker(self, spec: dict[str, Any]) -> WorkerSettings:
        delays = self.typed(spec, "worker", "retry_delays", list, [5.0, 30.0, 120.0])
        if not delays or not all(isinstance(d, int | float) and d >= 0 for d in delays):
            raise self.fail("worker.retry_delays", "expected a list of seconds, e.g. [5, 30]")
        return WorkerSettings(
            concurrency=int(self.positive(spec, "worker", "concurrency", 2)),
            max_attempts=int(self.positive(spec, "worker", "max_attempts", 3)),
            job_timeout_seconds=self.positive(spec, "worker", "job_timeout_seconds", 3600.0),
            lease_seconds=self.positive(spec, "worker", "lease_seconds", 60.0),
            retry_delays=tuple(float(d) for d in delays),
            prefetch=int(self.positive(spec, "worker", "prefetch", 1)),
            early_ack_seconds=self.positive(spec, "worker", "early_ack_seconds", 900.0),
            shutdown_grace_seconds=self.positive(spec, "worker", "shutdown_grace_seconds", 30.0),
        )

    def transcode(self, spec: dict[str, Any]) -> TranscodeSettings:
        raw_presets = self.table(spec, "presets", None)
        presets: dict[str, Preset] = {}
        for name, options in {**DEFAULT_PRESETS, **raw_presets}.items():
            key = f"transcode.presets.{name}"
            if not isinstance(options, dict):
                raise self.fail(key, "expected a table")
            base = DEFAULT_PRESETS.get(name, {})
            merged = {**base, **options}
            kind = merged.pop("kind", None)
            if not isinstance(kind, str):
                raise self.fail(f"{key}.kind", "expected a job kind, e.g. \"proxy\"")
            presets[name] = Preset(name=name, kind=kind, options=merged)
        jobs = tuple(self.typed(spec, "transcode", "jobs", list, list(DEFAULT_JOBS)))
        for job in jobs:
            if job not in presets:
                raise self.fail("transcode.jobs",
                                f"{job!r} has no [transcode.presets.{job}] table")
        return TranscodeSettings(
            jobs=jobs, presets=presets,
            sequence_fps=self.positive(spec, "transcode", "sequence_fps", 24.0))

    def logging(self, spec: dict[str, Any]) -> LoggingSettings:
        fmt = self.typed(spec, "logging", "format", str, "auto")
        if fmt not in ("auto", "json", "console"):
            raise self.fail("logging.format", f"must be json, console or auto, got {fmt!r}")
        level = self.typed(spec, "logging", "level", str, "info").lower()
        if level not in ("debug", "info", "warning", "error"):
            raise self.fail("logging.level", f"must be debug, info, warning or error, got {level!r}")
        return LoggingSettings(format=fmt, level=level)


_SECTIONS = {"database", "broker", "store", "watch", "naming", "worker", "transcode", "logging",
             "qc"}


def _get(data: Mapping[str, Any], key: str, default: Any) -> Any:
    return data.get(key, default) if isinstance(data, Mapping) else default
