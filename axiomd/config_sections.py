"""The config file's sections that are not read straight into `Config` as they are.

`DatabaseSettings`/`StoreSettings` give `[database]`/`[store]` their keys and defaults;
`NamingSpec`/`QcTable` are `[naming.X]`/`[qc.SHOW]` as written, before `NamingRule`/`QcSpec`
are built; `[color]`, `[[events.webhooks]]` and `[api]` are kept as written for the
features that use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from axiomd.config_schema import setting


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/catalog.db"


@dataclass(frozen=True)
class StoreSettings:
    root: Path = Path("var/store")
    min_free_bytes: int = setting(64 * 1024 * 1024, at_least=0)  # headroom kept free


@dataclass(frozen=True)
class NamingSpec:
    """A `[naming.NAME]` table as written; `NamingRule` is built from it."""

    template: str
    identity: tuple[str, ...]
    version_policy: str = setting("reject", choices=("reject", "renumber"))
    fields: Mapping[str, str | tuple[str, ...]] = setting(factory=dict)
    example: str | None = None


@dataclass(frozen=True)
class QcTable:
    """A `[qc.SHOW]` delivery spec as written: the values `qc.CHECKED` compares, and a policy."""

    fps: int | float | None = setting(None, above=0)
    width: int | None = setting(None, at_least=1)
    height: int | None = setting(None, at_least=1)
    codec: str | None = None
    pix_fmt: str | None = None
    color_space: str | None = None
    policy: str = setting("warn", choices=("warn", "reject"))


@dataclass(frozen=True)
class ColorSettings:
    """`[color]`: the OCIO config (built-in `ocio://…` or a path), display, view, and each
    extension's input colour space."""

    config: str = "ocio://studio-config-latest"
    display: str = "sRGB - Display"
    view: str = "ACES 2.0 - SDR 100 nits (Rec.709)"
    inputs: Mapping[str, str] = setting(factory=dict, hash=False)


@dataclass(frozen=True)
class Webhook:
    """One `[[events.webhooks]]` receiver; `events` lists event names or `*`."""

    url: str = setting(starts_with=("http://", "https://"))
    events: tuple[str, ...] = setting(("*",), nonempty=True)
    secret: str = ""


@dataclass(frozen=True)
class EventsSettings:
    webhooks: tuple[Webhook, ...] = ()


@dataclass(frozen=True)
class ApiSettings:
    """`[api] listen = "host:port"`; empty means no HTTP API."""

    listen: str = setting("", pattern=(r"(\S+:[0-9]{1,5})?", "host:port, e.g. 127.0.0.1:8750"))

    @property
    def enabled(self) -> bool:
        return bool(self.listen)
