"""The job message carries ids only, and anything else is refused as malformed."""

from __future__ import annotations

import json

import pytest

from axiomd.errors import MalformedMessage
from axiomd.messages import JobMessage, decode


def test_a_message_survives_the_round_trip() -> None:
    message = JobMessage(7, 3, "proxy_h264", "proxy", "a/b.mov", "ab" * 32)
    assert decode(json.dumps(message.to_body()).encode()) == message


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"schema": 99}', b'{"schema": 1}'])
def test_anything_else_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(body)
