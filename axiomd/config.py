"""Settings from `config/axiomd.toml`, validated once, frozen afterwards.

The file's shape is a public interface (pipeline TDs edit it), so every mistake in it is
reported at load, all at once, one line each naming the key and the problem. Each
section's allowed keys, types and defaults are the fields of its dataclass below (see
`config_schema`); the checks here are only those that span keys. Relative paths resolve
against the config file's folder; `AXIOMD_DATABASE_URL` and `AXIOMD_BROKER_URL` override
the URLs.

Slightly long on purpose: besides the settings dataclasses it holds the checks that span
keys (roots against naming rules, URLs, OCIO names), which need the whole file at once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from axiomd.catalog.db import scrub
from axiomd.config_presets import DEFAULT_PRESETS, Preset, read_preset
from axiomd.config_schema import Checker, close_match, setting
from axiomd.config_sections import (
    ApiSettings,
    ColorSettings,
    DatabaseSettings,
    EventsSettings,
    NamingSpec,
    QcTable,
    StoreSettings,
    Webhook,
)
from axiomd.errors import ConfigError
from axiomd.naming import NamingRule
from axiomd.qc import QcSpec

DEFAULT_IGNORE = (".*", "*.tmp", "*.part", "~*", "*.crdownload")
DEFAULT_JOBS = ("probe", "proxy_h264", "thumbnail")
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
SECONDS = {"above": 0}


@dataclass(frozen=True)
class BrokerSettings:
    url: str = ""
    prefix: str = setting("axiom", pattern=(r"[A-Za-z0-9_.-]+", "letters, digits, _ . or -"))

    @property
    def embedded(self) -> bool:
        """No broker URL: jobs are claimed straight from the catalog."""
        return not self.url


@dataclass(frozen=True)
class DropRoot:
    """One watched drop folder and the naming rule its files must follow.

    `naming` empty means the first `[naming.X]` table; `color_inputs` overrides
    `[color.inputs]` for this root.
    """

    name: str = setting(pattern=(r"\S.*", "a name for the drop root"))
    path: Path
    naming: str = ""
    poll: bool = False
    recursive: bool = True
    color_inputs: Mapping[str, str] = setting(factory=dict, hash=False)


@dataclass(frozen=True)
class WatchSettings:
    settle_seconds: float = setting(2.0, **SECONDS)
    rescan_seconds: float = setting(60.0, **SECONDS)
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    roots: tuple[DropRoot, ...] = ()
    ingest_threads: int = setting(4, at_least=1)
    sequence_settle_seconds: float = setting(10.0, **SECONDS)
    receipt_days: float = setting(7.0, at_least=0)
    empty_file_seconds: float = setting(300.0, **SECONDS)
    gap_wait_seconds: float = setting(60.0, at_least=0)
    adopt_after_seconds: float = setting(120.0, **SECONDS)


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = setting(2, at_least=1)
    max_attempts: int = setting(3, at_least=1)
    job_timeout_seconds: float = setting(3600.0, **SECONDS)
    lease_seconds: float = setting(60.0, **SECONDS)
    retry_delays: tuple[float, ...] = setting((5.0, 30.0, 120.0), at_least=0, nonempty=True)
    prefetch: int = setting(1, at_least=1)
    early_ack_seconds: float = setting(900.0, **SECONDS)
    shutdown_grace_seconds: float = setting(30.0, **SECONDS)
    takeover_after_seconds: float = setting(20.0, at_least=10)


@dataclass(frozen=True)
class TranscodeSettings:
    jobs: tuple[str, ...] = DEFAULT_JOBS
    presets: Mapping[str, Preset] = field(default_factory=dict)
    sequence_fps: float = setting(24.0, **SECONDS)

    @property
    def kinds(self) -> list[str]:
        """Every job kind a preset names: one work queue each."""
        return sorted({p.kind for p in self.presets.values()})


@dataclass(frozen=True)
class LoggingSettings:
    format: str = setting("auto", choices=("auto", "json", "console"))
    level: str = setting("info", choices=("debug", "info", "warning", "error"), lowercase=True)


@dataclass(frozen=True)
class ConfigFile:
    """The file's sections: their names are the allowed top-level tables."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    naming: Mapping[str, NamingSpec] = field(default_factory=dict)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    transcode: TranscodeSettings = field(default_factory=TranscodeSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    qc: Mapping[str, QcTable] = field(default_factory=dict)
    color: ColorSettings = field(default_factory=ColorSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    status: StatusSettings = field(default_factory=lambda: StatusSettings())


@dataclass(frozen=True)
class StatusSettings:
    """Limits past which `axiomd status` calls the pipeline unhealthy (`[status]`)."""

    stale_heartbeat_seconds: float = setting(60.0, **SECONDS)
    outbox_max_age_seconds: float = setting(300.0, **SECONDS)
    max_failures_last_hour: int = setting(0, at_least=0)
    heartbeat_expire_seconds: float = setting(86400.0, **SECONDS)
    textfile_dir: Path = Path("/var/lib/prometheus/node-exporter")


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
    color: ColorSettings = field(default_factory=ColorSettings)
    events_webhooks: tuple[Webhook, ...] = ()
    api: ApiSettings = field(default_factory=ApiSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
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
    config = _Reader(source, base).build(data, Path(path) if path else None, env)
    if "color" in data or any(r.color_inputs for r in config.watch.roots):
        _check_color(config, source)
    return config


def _check_color(config: Config, source: str) -> None:
    """Colour spaces, display and view exist in the OCIO config: checked at load when the
    file sets them (loading OCIO costs a few tenths of a second, so only then)."""
    from axiomd.color import review_settings, validate_color_settings

    try:
        validate_color_settings(review_settings(config.color))
        for root in config.watch.roots:
            if root.color_inputs:
                validate_color_settings(review_settings(config.color, root.color_inputs),
                                        key=f"watch.roots.{root.name}")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except Exception as exc:  # OCIO's own errors: a missing or broken config.ocio
        raise ConfigError(f"{source}: color.config: OpenColorIO cannot use "
                          f"{config.color.config}: {exc}") from exc


class _Reader:
    """Builds a Config from the checked file and adds the checks that span keys."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def path(self, value: str | Path) -> Path:
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
        check = Checker(self.source, hooks={Preset: read_preset})
        file: ConfigFile = check.table(data, "", ConfigFile, what="section")

        db_url = env.get("AXIOMD_DATABASE_URL") or file.database.url or DatabaseSettings.url
        if not db_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:")):
            check.add("database.url", "must start with sqlite:/// or postgresql://")
        elif (problem := _url_problem(db_url)) is not None:
            check.add("database.url", f"cannot be read as a database URL ({problem}); "
                      "e.g. postgresql://axiom@dbhost/axiom (percent-encode @ : / in passwords)")
        broker_url = env.get("AXIOMD_BROKER_URL") or file.broker.url
        if broker_url and not broker_url.startswith(("amqp://", "amqps://")):
            check.add("broker.url", "must be empty (embedded) or start with amqp://")

        raw_naming = data.get("naming")
        if not raw_naming or not isinstance(raw_naming, dict):
            raw_naming = {"shot": SHOT_RULE}
            specs = {"shot": check.table(SHOT_RULE, "naming.shot", NamingSpec)}
        else:
            specs = dict(file.naming)
        naming = {name: rule for name, spec in specs.items()
                  if (rule := self.rule(check, name, spec)) is not None}
        roots = self.roots(check, file.watch.roots, list(raw_naming))
        transcode = self.transcode(check, file.transcode, data.get("transcode"))
        check.raise_if_any()
        return Config(
            path=path,
            database_url=self.sqlite_url(db_url),
            broker=dataclasses.replace(file.broker, url=broker_url),
            store_root=self.path(file.store.root),
            store_min_free_bytes=file.store.min_free_bytes,
            watch=dataclasses.replace(file.watch, roots=roots),
            naming=naming,
            worker=file.worker,
            transcode=transcode,
            logging=file.logging,
            qc={show: QcSpec(show, {k: v for k, v in dataclasses.asdict(spec).items()
                                    if k != "policy" and v is not None}, spec.policy)
                for show, spec in file.qc.items()},
            color=dataclasses.replace(file.color, config=self.color_config(file.color.config)),
            events_webhooks=file.events.webhooks,
            api=file.api,
            status=dataclasses.replace(file.status,
                                       textfile_dir=self.path(file.status.textfile_dir)),
        )

    def color_config(self, value: str) -> str:
        """An OCIO config is built in (`ocio://…`) or a file, relative to the config's folder."""
        return value if not value or value.startswith("ocio://") else str(self.path(value))

    def rule(self, check: Checker, name: str, spec: NamingSpec) -> NamingRule | None:
        key = f"naming.{name}"
        broken = check.found_under(key)
        for field_name, pattern in spec.fields.items():
            if isinstance(pattern, str):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    check.add(f"{key}.fields.{field_name}", f"not a valid regular expression: {exc}")
                    broken = True
        if broken:
            return None
        try:
            return NamingRule(name=name, template=spec.template, fields=spec.fields,
                              identity=spec.identity, version_policy=spec.version_policy,
                              example=spec.example)
        except (ValueError, re.error) as exc:
            check.add(key, str(exc))
            return None

    def roots(self, check: Checker, roots: tuple[DropRoot, ...],
              rules: list[str]) -> tuple[DropRoot, ...]:
        resolved = []
        for i, root in enumerate(roots):
            rule = root.naming or rules[0]
            if rule not in rules:
                check.add(f"watch.roots[{i}].naming",
                          f"no [naming.{rule}] table ({close_match(rule, rules)})")
            resolved.append(dataclasses.replace(root, naming=rule, path=self.path(root.path)))
        names = [r.name for r in resolved]
        for name in sorted({n for n in names if names.count(n) > 1}):
            check.add("watch.roots", f"two drop roots share the name {name!r}")
        return tuple(resolved)

    def transcode(self, check: Checker, spec: TranscodeSettings, raw: Any) -> TranscodeSettings:
        """The built-in presets, overridden or joined by the file's, in that order."""
        written = raw.get("presets") if isinstance(raw, dict) else None
        written = written if isinstance(written, dict) else {}
        known = list(dict.fromkeys([*DEFAULT_PRESETS, *written]))
        presets = {}
        for name in known:
            if name not in written:
                presets[name] = read_preset(check, {}, f"transcode.presets.{name}", name)
            elif name in spec.presets:
                presets[name] = spec.presets[name]
        for job in spec.jobs:
            if job not in known:
                check.add("transcode.jobs", f"{job!r} has no [transcode.presets.{job}] table "
                                            f"({close_match(job, known)})")
        return dataclasses.replace(spec, presets=presets)


def _url_problem(url: str) -> str | None:
    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        return scrub(str(exc), url)
    return None
