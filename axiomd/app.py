"""The one place that wires config, catalog, store and queue together."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine

from axiomd.catalog.db import make_engine
from axiomd.config import Config, find_config_path, load_config
from axiomd.ingest import Ingestor
from axiomd.store import Store


@dataclass
class App:
    config: Config
    engine: Engine = field(init=False)
    store: Store = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.config.database_url,
                                  pool_size=max(2, self.config.worker.concurrency + 2))
        self.store = Store(self.config.store_root)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.config, self.engine, self.store)

    def close(self) -> None:
        self.engine.dispose()


def open_app(config_path: str | None = None) -> App:
    return App(load_config(find_config_path(config_path)))
