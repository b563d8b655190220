"""The one place that wires config, catalog, store, queue and daemons together."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from axiomd.catalog.db import make_engine
from axiomd.config import Config, find_config_path, load_config
from axiomd.daemon import Service, Shutdown, run_service
from axiomd.errors import ConfigError
from axiomd.ingest import Ingestor
from axiomd.store import Store
from axiomd.supervise import Children, axiomd_command

if TYPE_CHECKING:
    from axiomd.webhooks import WebhookService


@dataclass
class App:
    config: Config
    engine: Engine = field(init=False)
    store: Store = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.config.database_url,
                                  pool_size=max(2, self.config.worker.concurrency + 2))
        self.store = Store(self.config.store_root, self.config.store_min_free_bytes)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.config, self.engine, self.store)

    def close(self) -> None:
        self.engine.dispose()


def open_app(config_path: str | None = None) -> App:
    return App(load_config(find_config_path(config_path)))


def watcher(app: App, shutdown: Shutdown) -> Service:
    from axiomd.watcher.daemon import Watcher

    if not app.config.watch.roots:
        raise ConfigError("no [[watch.roots]] configured: nothing to watch")
    return Watcher(app.config, app.ingestor, shutdown)


def relay(app: App, shutdown: Shutdown) -> Service:
    from axiomd.relay import Relay

    if app.config.broker.embedded:
        raise ConfigError("broker.url is empty (embedded mode): there is nothing to relay")
    return Relay(app.config, app.engine, shutdown)


def webhooks(app: App, shutdown: Shutdown) -> WebhookService:
    """Webhook deliveries: in the relay's process in production, in `axiomd run` embedded.
    Started threads; `join` them after shutdown."""
    from axiomd.webhooks import WebhookService, configured_webhooks

    return WebhookService(app.engine, configured_webhooks(app.config),
                          shutdown.stop_taking).start()


def worker(app: App, shutdown: Shutdown) -> Service:
    from axiomd.consumers.worker import EmbeddedWorker, RabbitWorker

    kind = EmbeddedWorker if app.config.broker.embedded else RabbitWorker
    return kind(app.config, app.engine, app.store, shutdown)


def worker_processes(app: App, shutdown: Shutdown, count: int) -> None:
    """`count` worker processes, one job each, restarted if they die, until shutdown."""
    children = Children([axiomd_command(app.config.path, "worker")] * count, shutdown)
    children.start()
    while not shutdown.stop_taking.wait(0.5):
        children.check()
    children.stop(app.config.worker.shutdown_grace_seconds)


def api_process(app: App, shutdown: Shutdown) -> None:
    """`axiomd serve` in a child process until shutdown (its own event loop and signals)."""
    children = Children([axiomd_command(app.config.path, "serve")], shutdown)
    children.start()
    while not shutdown.stop_taking.wait(0.5):
        children.check()
    children.stop(app.config.worker.shutdown_grace_seconds)


def run_everything(app: App, shutdown: Shutdown) -> None:
    """The embedded default: one command, one machine: the watcher here, the relay (with
    a broker) on a thread, `[worker] concurrency` worker processes, webhook deliveries."""
    hooks = webhooks(app, shutdown)
    threads = [threading.Thread(target=worker_processes, name="supervisor", daemon=True,
                                args=(app, shutdown, app.config.worker.concurrency))]
    if app.config.api.enabled:  # `axiomd serve` as one more child, restarted if it dies
        threads.append(threading.Thread(target=api_process, name="api-supervisor",
                                        daemon=True, args=(app, shutdown)))
    if not app.config.broker.embedded:
        threads.append(threading.Thread(target=run_service, args=(relay(app, shutdown),),
                                        kwargs={"notify_ready": False}, name="relay",
                                        daemon=True))
    for thread in threads:
        thread.start()
    try:
        if app.config.watch.roots:
            for root in app.config.watch.roots:
                root.path.mkdir(parents=True, exist_ok=True)
            run_service(watcher(app, shutdown))
        else:
            shutdown.stop_taking.wait()
    finally:
        shutdown.request("watcher stopped")
        for thread in threads:
            thread.join(timeout=None if thread.name.endswith("supervisor") else 10)
        hooks.join(timeout=5)
