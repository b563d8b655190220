"""Every daemon runs through one loop: outages, reloads and stops behave the same."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from axiomd.catalog.db import make_engine
from axiomd.config import load_config
from axiomd.daemon import Backoff, Service, Shutdown, run_service


class Outage(Exception):
    pass


class Scripted(Service):
    """A service whose turns fail with an outage `failures` times, then work."""

    role = "test"
    outages = (Outage,)

    def __init__(self, config: Any, engine: Engine, shutdown: Shutdown, failures: int,
                 until: Callable[[Scripted], bool]) -> None:
        super().__init__(config, engine, shutdown)
        self.failures, self.until = failures, until
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def step(self) -> None:
        if self.failures:
            self.failures -= 1
            raise Outage("database went away")
        self.calls.append("step")
        if self.until(self):
            self.shutdown.request()

    def disconnect(self) -> None:
        self.calls.append("disconnect")

    def reload(self, config: Any) -> None:
        self.calls.append("reload")

    def close(self) -> None:
        self.calls.append("close")


def run(service: Scripted) -> None:
    run_service(service, backoff=Backoff(first=0.001, cap=0.002))


def test_an_outage_is_one_event_when_it_starts_and_one_when_it_ends(
        tmp_path: Path, write_config: Callable[..., Path]) -> None:
    """Three failed turns in a row are one outage: one warning with its cause, one recovery."""
    config = load_config(write_config(f"sqlite:///{tmp_path / 'c.db'}"))
    service = Scripted(config, make_engine(config.database_url), Shutdown(1), failures=3,
                       until=lambda s: True)
    with capture_logs() as logs:
        run(service)
    events = [e for e in logs if e["event"].startswith("service.")]
    assert [e["event"] for e in events] == ["service.unavailable", "service.recovered"]
    assert events[0]["error"] == "Outage: database went away" and events[0]["role"] == "test"


def test_after_an_outage_the_service_disconnects_and_starts_again(
        tmp_path: Path, write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(f"sqlite:///{tmp_path / 'c.db'}"))
    service = Scripted(config, make_engine(config.database_url), Shutdown(1), failures=1,
                       until=lambda s: True)
    run(service)
    assert service.calls == ["start", "disconnect", "start", "step", "close"]


def test_sighup_reloads_between_two_turns(tmp_path: Path,
                                          write_config: Callable[..., Path]) -> None:
    """The reload flag a signal sets is read by the loop, never acted on in the handler."""
    config = load_config(write_config(f"sqlite:///{tmp_path / 'c.db'}"))
    shutdown = Shutdown(1)

    def after_reload(service: Scripted) -> bool:
        if "reload" in service.calls:
            return True
        shutdown.reload.set()
        return False

    service = Scripted(config, make_engine(config.database_url), shutdown, failures=0,
                       until=after_reload)
    run(service)
    assert service.calls.count("reload") == 1 and service.calls[-1] == "close"


def test_a_stop_ends_the_loop_and_closes_the_service_once(
        tmp_path: Path, write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(f"sqlite:///{tmp_path / 'c.db'}"))
    shutdown = Shutdown(1)
    service = Scripted(config, make_engine(config.database_url), shutdown, failures=0,
                       until=lambda s: False)
    thread = threading.Thread(target=run, args=(service,))
    thread.start()
    shutdown.request()
    thread.join(timeout=5)
    assert not thread.is_alive() and service.calls.count("close") == 1


def test_what_a_daemon_made_to_start_is_left_out_of_garbage_collections(
        tmp_path: Path, write_config: Callable[..., Path]) -> None:
    """Its first turn finds the objects made while starting frozen (`gc.freeze`)."""
    config = load_config(write_config(f"sqlite:///{tmp_path / 'c.db'}"))
    frozen: list[int] = []
    service = Scripted(config, make_engine(config.database_url), Shutdown(1), failures=0,
                       until=lambda s: frozen.append(gc.get_freeze_count()) is None)
    gc.unfreeze()
    try:
        run(service)
    finally:
        gc.unfreeze()
    assert frozen[0] > 0
