"""`axiomd serve`: uvicorn running the app under axiomd's process rules.

READY is sent to systemd once the socket listens; a heartbeat row says the API is
alive (`axiomd status`); SIGTERM stops taking connections and lets requests in flight
finish for `[worker] shutdown_grace_seconds`; a second one stops at once. Logs are
axiomd's JSON lines (uvicorn's own access log is replaced by `api.request`).
"""

from __future__ import annotations

import signal
import threading

import uvicorn

from axiomd.app import App
from axiomd.catalog import uploads
from axiomd.daemon import Pulse, sd_notify
from axiomd.errors import ConfigError
from axiomd.log import get_logger

log = get_logger("api")
DEFAULT_LISTEN = "127.0.0.1:8750"


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port` (`[::1]:8750` for IPv6) → (host, port)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"api.listen: expected host:port, e.g. {DEFAULT_LISTEN}, got {listen!r}")
    return host.strip("[]"), int(port)


def serve(app: App) -> None:
    from axiomd.web.app import create_app

    host, port = parse_listen(app.config.api.listen or DEFAULT_LISTEN)
    settled = uploads.abandon_dead(app.engine)
    if settled:
        log.info("api.uploads_settled", uploads=settled)
    app.ingestor.recover_staged()
    pulse = Pulse(app.engine, "api")
    asgi = create_app(app, tick=pulse.turned)
    server = uvicorn.Server(uvicorn.Config(
        asgi, host=host, port=port, log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=int(app.config.worker.shutdown_grace_seconds),
        server_header=False))
    pulse.start()
    done = threading.Event()

    def announce() -> None:
        while not server.started and not done.wait(0.05):
            pass
        if server.started:
            sd_notify("READY=1")
            log.info("api.listening", host=host, port=port)

    threading.Thread(target=announce, name="api-ready", daemon=True).start()
    # uvicorn takes SIGTERM/SIGINT while it runs and hands them on to the handlers found
    # when it started: these, so the process gets to tidy up below instead of dying.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        server.run()
    finally:
        done.set()
        asgi.state.ingest_pool.shutdown(wait=True)
        pulse.forget()
        log.info("api.stopped")
