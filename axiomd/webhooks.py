"""Webhooks: version events POSTed to `[[events.webhooks]]`, from the catalog, with retries.

    [[events.webhooks]]
    url = "https://chat.example/hook"
    events = ["version.complete", "version.reviewed"]   # or "*" / ["*"] / ["version.*"]
    secret = "…"                                        # optional: signs the body

Each event a webhook subscribes to becomes a delivery row (`catalog/deliveries.py`);
each webhook has its own thread, so a slow or dead receiver delays only itself. A
failed attempt waits (1, 2, 4 … up to 300 s) and is tried again with the same
`X-Axiomd-Delivery` id and the same body, for as long as it takes: nothing is dropped.
Receivers should treat a repeated delivery id as already handled.

Headers: `X-Axiomd-Event` (the event name), `X-Axiomd-Delivery` (stable across retries),
`X-Axiomd-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from axiomd import events
from axiomd.catalog import deliveries
from axiomd.catalog.deliveries import Due
from axiomd.config import Config
from axiomd.errors import ConfigError
from axiomd.log import get_logger

log = get_logger("webhooks")

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class Webhook:
    url: str
    events: tuple[str, ...] = ("*",)
    secret: str = ""

    @property
    def key(self) -> str:
        """How its deliveries are filed in the catalog."""
        return self.url


def backoff(attempts: int, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Seconds before the next try after `attempts` failed ones: 1, 2, 4, … up to `cap`."""
    return float(min(cap, 2 ** max(0, attempts - 1)))


def configured_webhooks(config: Config) -> tuple[Webhook, ...]:
    """`[[events.webhooks]]` (shape checked by config.py); an `events` entry that can
    never match is a mistake worth stopping for, named by its key."""
    hooks = []
    for i, hook in enumerate(config.events_webhooks):
        chosen = (hook.events,) if isinstance(hook.events, str) else tuple(hook.events)
        for name in chosen:
            if not any(events.selected([name], known) for known in events.NAMES):
                raise ConfigError(f"{config.path or 'built-in defaults'}: "
                                  f"events.webhooks[{i}].events: {name!r} matches no event "
                                  f"(known: {', '.join(events.NAMES)})")
        hooks.append(Webhook(hook.url, chosen, hook.secret))
    return tuple(hooks)


def post(hook: Webhook, due: Due, timeout: float) -> None:
    """One attempt; raises `urllib.error.URLError`/`OSError` (or HTTPError) on failure."""
    headers = {"Content-Type": "application/json", "User-Agent": "axiomd-webhooks",
               "X-Axiomd-Event": due.event, "X-Axiomd-Delivery": due.delivery_id}
    if hook.secret:
        headers["X-Axiomd-Signature"] = events.signature(hook.secret, due.body)
    request = urllib.request.Request(hook.url, data=due.body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


class WebhookService:
    """The fan-out thread and one delivery thread per webhook, until `stop` is set.

    `axiomd run` starts it (the embedded default) and so does `axiomd relay` (production).
    """

    poll_seconds = 0.5
    lease_seconds = 120.0
    timeout_seconds = 10.0

    def __init__(self, engine: Engine, hooks: Sequence[Webhook], stop: threading.Event) -> None:
        self.engine = engine
        self.hooks = {h.key: h for h in hooks}
        self.stop = stop
        self.threads: list[threading.Thread] = []

    def start(self) -> WebhookService:
        targets = [("webhooks-fan-out", self._fan_out, ())] + [
            (f"webhook-{i}", self._deliver, (hook,)) for i, hook in enumerate(self.hooks.values())]
        for name, target, args in targets:
            thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info("webhooks.started", webhooks=len(self.hooks))
        return self

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def _fan_out(self) -> None:
        subscriptions = [(h.key, h.events) for h in self.hooks.values()]
        while not self.stop.is_set():
            try:
                busy = deliveries.fan_out(self.engine, subscriptions)
            except Exception as exc:  # the catalog being down must not end the thread
                log.warning("webhooks.catalog_unavailable", error=str(exc))
                busy = 0
                self.stop.wait(2.0)
            if not busy:
                self.stop.wait(self.poll_seconds)

    def _deliver(self, hook: Webhook) -> None:
        while not self.stop.is_set():
            try:
                batch = deliveries.claim_due(self.engine, hook.key, self.lease_seconds)
                for i, due in enumerate(batch):
                    if self.stop.is_set() or not self._attempt(hook, due):
                        # down or refusing: the rest waits behind this one, in order
                        deliveries.hand_back(self.engine, [d.id for d in batch[i + 1:]])
                        break
            except Exception as exc:
                log.warning("webhooks.catalog_unavailable", url=hook.url, error=str(exc))
                batch = []
                self.stop.wait(2.0)
            if not batch:
                self.stop.wait(self.poll_seconds)

    def _attempt(self, hook: Webhook, due: Due) -> bool:
        try:
            post(hook, due, self.timeout_seconds)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = (f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError)
                     else f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
            retry_in = backoff(due.attempts + 1)
            deliveries.attempt_failed(self.engine, due.id, error, retry_in)
            log.warning("webhook.failed", url=hook.url, name=due.event, event_id=due.event_id,
                        delivery=due.delivery_id, attempt=due.attempts + 1, error=error,
                        retry_in=retry_in)
            return False
        deliveries.delivered(self.engine, due.id)
        log.info("webhook.delivered", url=hook.url, name=due.event, event_id=due.event_id,
                 delivery=due.delivery_id, attempt=due.attempts + 1)
        return True
