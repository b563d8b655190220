"""Version events: their JSON, RabbitMQ's `<prefix>.events`, webhooks and `axiomd events`."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from axiomd import events
from axiomd.catalog import jobs, reviews, schema
from axiomd.catalog.db import make_engine
from axiomd.catalog.deliveries import backlog
from axiomd.catalog.events import events_after
from axiomd.catalog.models import outbox_t
from axiomd.catalog.versions import JobSpec, allocate_version
from axiomd.config import load_config
from axiomd.errors import ConfigError
from axiomd.webhooks import Webhook, WebhookService, configured_webhooks
from tests.helpers import Daemon, new_version, run_cli, wait_for

ASSET = "TST_SQ010_SH0010_comp"
NOOP = [JobSpec("noop", "noop")]
NOOP_PRESET = '\n[transcode.presets.noop]\nkind = "noop"\n'


def test_a_webhook_subscribing_to_no_known_event_is_a_config_error_naming_the_key(
        write_config: Callable[..., Path], sqlite_url: str) -> None:
    """`events = ["job.*"]` can never match: refused, with the key it is under."""
    config = load_config(write_config(sqlite_url, extra='\n[[events.webhooks]]\n'
                                      'url = "http://127.0.0.1:9/x"\nevents = ["job.*"]\n'))
    with pytest.raises(ConfigError, match=r"events.webhooks\[0\].events: 'job.\*' matches no"):
        configured_webhooks(config)


# -- a local receiver ------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; `status` is what it answers."""

    def __init__(self, port: int = 0, status: int = 200, delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.requests.append({"headers": dict(self.headers), "body": body,
                                          "status": receiver.status})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def test_webhooks_on_the_embedded_default_are_signed_and_retried_with_one_delivery_id(
        write_config: Callable[..., Path], tmp_path: Path, daemons: Callable[..., Daemon],
        receivers: Callable[..., Receiver]) -> None:
    """`axiomd run`: the receiver is down, then refuses once, then takes every event;
    each retry carries the same delivery id and body, and the signature checks out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    config = write_config(f"sqlite:///{tmp_path / 'catalog.db'}", jobs='["noop"]',
                          extra=NOOP_PRESET + f'\n[[events.webhooks]]\nurl = "{url}"\n'
                          'events = ["*"]\nsecret = "s3cret"\n')
    run = daemons(config, "run")
    wait_for(lambda: any(e.get("event") == "webhooks.started" for e in run.events()), 30,
             "the webhook loop")
    (tmp_path / "drop" / "comp" / f"{ASSET}_v001.txt").write_text("frames")
    wait_for(lambda: sum(e.get("event") == "webhook.failed" for e in run.events()) >= 2, 30,
             "attempts failing while the receiver is down")
    receiver = receivers(port=port, status=503)
    wait_for(lambda: receiver.requests, 30, "an attempt the receiver refuses")
    receiver.status = 200
    wait_for(lambda: {e["event"] for e in receiver.accepted()} >= {events.CREATED,
                                                                    events.COMPLETE},
             60, "created and complete delivered")
    for request in receiver.requests:
        signature = hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Axiomd-Signature"] == f"sha256={signature}"
    refused = receiver.requests[0]
    same = [r for r in receiver.requests if r["status"] == 200
            and r["headers"]["X-Axiomd-Delivery"] == refused["headers"]["X-Axiomd-Delivery"]]
    assert len(same) == 1 and same[0]["body"] == refused["body"]
    complete = next(e for e in receiver.accepted() if e["event"] == events.COMPLETE)
    assert (complete["asset"], complete["version"], complete["review"]) == (
        ASSET, "v001", "pending_review")
    assert run.stop() == 0


def test_a_slow_receiver_does_not_delay_another_and_filters_hold(
        sqlite_url: str, receivers: Callable[..., Receiver]) -> None:
    """One webhook answering after 20 s; the other still gets its events at once, and only
    the ones it subscribed to."""
    engine = make_engine(sqlite_url)
    schema.upgrade(engine)
    slow = receivers(delay=20)
    fast = receivers()
    stop = threading.Event()
    service = WebhookService(engine, [Webhook(slow.url), Webhook(fast.url, ("version.noted",))],
                             stop)
    service.timeout_seconds = 30
    service.start()
    try:
        for _ in range(3):
            allocate_version(engine, new_version(ASSET), NOOP, with_outbox=False)
        job = jobs.claim_next(engine, "me", 60)
        assert job is not None and jobs.complete(engine, job.id, "me")
        reviews.add_note(engine, ASSET, 1, "look at this", "ann")
        started = time.monotonic()
        wait_for(lambda: fast.accepted(), 10, "the fast receiver's event")
        assert time.monotonic() - started < 10
        assert [e["event"] for e in fast.accepted()] == [events.NOTED]
        assert backlog(engine)[slow.url] >= 4
    finally:
        stop.set()
        service.join(timeout=1)
        engine.dispose()


# -- RabbitMQ --------------------------------------------------------------------------


_ONE_CHANGE_AT_A_TIME = threading.Lock()


def make_changes(engine: Engine, count: int) -> None:
    """`count` versions made, completed and approved: three events each, with outbox rows.

    Two threads may make changes at once; each change is whole before the other thread's
    next one, or one could claim the other's job and review a version still processing."""
    for _ in range(count):
        with _ONE_CHANGE_AT_A_TIME:
            v = allocate_version(engine, new_version(ASSET), NOOP, with_outbox=True)
            job = jobs.claim_next(engine, "me", 60)
            assert job is not None and jobs.complete(engine, job.id, "me", with_outbox=True)
            reviews.review(engine, ASSET, v.number, "approve", "sup", with_outbox=True)


def unsent(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox_t)
                                .where(outbox_t.c.sent_at.is_(None))).scalar_one())


def test_events_reach_a_bound_queue_in_order_and_survive_a_relay_kill(
        write_config: Callable[..., Path], pg_url: str, broker_url: str,
        daemons: Callable[..., Daemon]) -> None:
    """A consumer's durable queue bound to `<prefix>.events` gets every event, each
    version's in the order they happened, although the relay was killed mid-stream."""
    config = write_config(pg_url, broker_url, jobs='["noop"]', extra=NOOP_PRESET)
    prefix = config.read_text().split('prefix = "')[1].split('"')[0]
    engine = make_engine(pg_url)
    schema.upgrade(engine)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    channel.exchange_declare(f"{prefix}.events", exchange_type="topic", durable=True)
    channel.queue_declare("studio-sync", durable=True)
    channel.queue_bind("studio-sync", f"{prefix}.events", routing_key="version.*")
    make_changes(engine, 20)
    relay = daemons(config, "relay")
    producer = threading.Thread(target=make_changes, args=(engine, 80))
    producer.start()
    wait_for(lambda: channel.queue_declare("studio-sync", passive=True).method.message_count
             > 0, 30, "the first events published")
    relay.kill()  # SIGKILL, with changes still being made
    make_changes(engine, 20)  # and more while no relay runs
    assert unsent(engine) > 0
    daemons(config, "relay")
    producer.join(timeout=120)
    wait_for(lambda: unsent(engine) == 0, 60, "the outbox drained by the new relay")

    received: list[dict[str, Any]] = []
    while True:
        method, props, body = channel.basic_get("studio-sync", auto_ack=True)
        if method is None:
            break
        assert props.delivery_mode == 2 and method.routing_key == json.loads(body)["event"]
        received.append(json.loads(body))
    connection.close()
    recorded = events_after(engine, limit=10_000)
    assert len(recorded) == 360
    first_seen: dict[int, dict[str, Any]] = {}
    for event in received:
        first_seen.setdefault(event["id"], event)
    assert set(first_seen) == {e["id"] for e in recorded}
    by_version: dict[str, list[str]] = {}
    for event in first_seen.values():
        by_version.setdefault(event["version"], []).append(event["event"])
    assert all(names == [events.CREATED, events.COMPLETE, events.REVIEWED]
               for names in by_version.values())
    engine.dispose()


def test_events_json_prints_one_event_per_line_oldest_first(
        write_config: Callable[..., Path], sqlite_url: str) -> None:
    """`axiomd events --json`: what a script tails; `--after` skips what it has seen."""
    config = write_config(sqlite_url)
    engine = make_engine(sqlite_url)
    schema.upgrade(engine)
    allocate_version(engine, new_version(ASSET), NOOP, with_outbox=False)
    reviews.add_note(engine, ASSET, 1, "first look", "ann")
    lines = run_cli("events", "--json", config=config, check=True).stdout.splitlines()
    got = [json.loads(line) for line in lines]
    assert [(e["id"], e["event"]) for e in got] == [(1, events.CREATED), (2, events.NOTED)]
    later = run_cli("events", "--json", "--after", "1", config=config, check=True).stdout
    assert [json.loads(line)["event"] for line in later.splitlines()] == [events.NOTED]
    engine.dispose()


def test_following_events_through_the_api_prints_new_ones_in_order(
        write_config: Callable[..., Path], sqlite_url: str) -> None:
    """`Catalog.events(follow=True)` waits for and yields events as they are recorded."""
    from axiomd.api import Catalog

    config = write_config(sqlite_url)
    catalog = Catalog.open(config)
    schema.upgrade(catalog.app.engine)
    got: list[str] = []

    def follow() -> None:
        for event in catalog.events(after=None, follow=True, poll_seconds=0.1):
            got.append(event["event"])
            if len(got) == 2:
                return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(0.3)
    allocate_version(catalog.app.engine, new_version(ASSET), NOOP, with_outbox=False)
    catalog.note(ASSET, "v001", "seen it", by="ann")
    follower.join(timeout=10)
    assert got == [events.CREATED, events.NOTED]
    catalog.close()
