"""Poison messages on a real RabbitMQ vhost, consumed by a real worker process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pika
import pytest
from sqlalchemy.engine import Engine

from axiomd.config import load_config
from axiomd.errors import MalformedMessage
from axiomd.messages import decode
from tests.helpers import Daemon, add_versions, all_done, dead_letter_count, wait_for

DEEP = b'{"schema": 1, "job_id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"


def job_body(job_id: object) -> bytes:
    return json.dumps({"schema": 1, "job_id": job_id, "version_id": 1, "preset": "noop",
                       "kind": "noop", "source": "x", "checksum": "0" * 64}).encode()


@pytest.mark.parametrize("body", [DEEP, job_body(10**30), job_body(2**31), job_body(-5)],
                         ids=["deeply-nested", "huge-id", "id-past-int4", "negative-id"])
def test_decode_refuses_poison_bodies_as_malformed(body: bytes) -> None:
    """Nesting that would blow the stack and ids no catalog row can have are malformed."""
    with pytest.raises(MalformedMessage):
        decode(body)


def test_poison_messages_are_dead_lettered_and_good_jobs_flow(
        noop_pipeline: Callable[..., tuple[Path, Engine]], daemons: Callable[..., Daemon],
        broker_url: str) -> None:
    """A deeply nested body and an out-of-range job id are dead-lettered with a reason; the
    worker stays up and the good job behind them runs."""
    config, engine = noop_pipeline()
    prefix = load_config(config).broker.prefix
    worker = daemons(config, "worker")
    wait_for(lambda: any(e.get("event") == "worker.connected" for e in worker.events()), 30,
             "the worker to connect")
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = conn.channel()
    channel.basic_publish(f"{prefix}.jobs", "job.noop", DEEP)
    channel.basic_publish(f"{prefix}.jobs", "job.noop", job_body(2**40))
    conn.close()
    add_versions(engine, config, 1)
    daemons(config, "relay")
    wait_for(lambda: all_done(engine), 60, "the good job after the poison ones")
    wait_for(lambda: dead_letter_count(broker_url, prefix) == 2, 10, "both dead-lettered")
    malformed = [e for e in worker.events() if e.get("event") == "message.malformed"]
    assert len(malformed) == 2 and all(e.get("error") for e in malformed)
    assert worker.proc.poll() is None
