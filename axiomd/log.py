"""Structured logs: JSON lines for journald and log shippers, a readable console on a TTY.

Every line carries `event` (a stable dotted name, listed in docs/log-events.md), `level`,
`timestamp` (UTC ISO 8601), `service`, `host` and `pid`. Passwords in URLs are masked
before anything is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_IN_URL = re.compile(r"(\w+://[^:/@\s]+:)[^@\s]*@")
# One encoder for every line: `json.dumps` with a `default` builds a new one at each call,
# a fifth of a line's cost (and a watcher writes three lines per file). Values JSON has no
# type for are written as their repr, as structlog's own renderer does.
_ENCODE = json.JSONEncoder(default=repr).encode


def mask_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the password part of any URL in any string value with `***`."""
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = _SECRET_IN_URL.sub(r"\1***@", value)
    return event


def configure_logging(
    service: str, fmt: str = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    stream = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    static = {"service": service, "host": socket.gethostname(), "pid": os.getpid()}

    def add_static(_l: Any, _m: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer(lambda event, **_: _ENCODE(event))
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_static,
            structlog.processors.format_exc_info,
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        # Each logger is put together at its first use after this, not at every line.
        cache_logger_on_first_use=True,
    )
    _route_library_logs()


# Libraries whose records describe a condition axiomd reports itself, once and with its
# cause (pika: 7 error records per failed reconnect, while axiomd logs
# `worker.broker_unavailable` / relay events): kept, but at debug.
QUIET_LIBRARIES = frozenset({"pika"})


class _ToStructlog(logging.Handler):
    """Libraries (watchdog, pika) log through stdlib logging and warnings: same JSON lines."""

    def emit(self, record: logging.LogRecord) -> None:
        log = structlog.get_logger(component="library")
        if record.name.split(".", 1)[0] in QUIET_LIBRARIES:
            log.debug("library.message", logger=record.name, message=record.getMessage(),
                      library_level=record.levelname.lower())
        elif record.levelno >= logging.ERROR:
            log.error("library.message", logger=record.name, message=record.getMessage())
        else:
            log.warning("library.message", logger=record.name, message=record.getMessage())


def _route_library_logs() -> None:
    logging.captureWarnings(True)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _ToStructlog)]
    root.addHandler(_ToStructlog(logging.WARNING))
    root.setLevel(logging.WARNING)


def get_logger(component: str) -> Any:
    return structlog.get_logger(component=component)
