"""A stored call as one broker message and back (queue/message.py), as tables."""

from __future__ import annotations

import dataclasses

import pytest

from faas_sidecar.queue.message import (
    MAGIC,
    MessageError,
    StoredCall,
    decode,
    dedup_id,
    encode,
    stored_headers,
)


def call(**changes) -> StoredCall:
    base = StoredCall(call_id="c-1", function="echo", method="POST", path="/a/b",
                      query="x=1&y=%20", headers=(("Content-Type", "text/plain"),),
                      body=b"hello", enqueued_at=1.5, attempts=5, concurrency=8)
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("stored", [
    call(),
    call(body=b""),
    call(body=bytes(range(256)) * 40),            # every byte value, newlines included
    call(body=b"\n" + MAGIC + b"{}\n"),           # a body that looks like a head
    call(method="GET", path="/", query=""),
    call(headers=(("X-A", "1"), ("x-a", "2"), ("X-Hub-Signature-256", "sha256=ab"))),
    call(headers=(("X-Utf8", "caf\u00e9 \u2603"),)),
    call(extra={"cause": "timeout", "status": None, "attempts": 5}),
], ids=["plain", "empty", "binary", "tricky", "get", "repeated", "utf8", "dead"])
def test_a_call_comes_back_exactly_as_stored(stored):
    data = encode(stored)
    assert data.startswith(MAGIC)
    assert data.endswith(stored.body)  # the body is stored as it came, not re-encoded
    assert decode(data) == stored


@pytest.mark.parametrize(("data", "why"), [
    (b"", "marker"),
    (b"hello", "marker"),
    (MAGIC + b'{"call_id": "x"}', "end of its head"),
    (MAGIC + b"not json\n", "damaged"),
    (MAGIC + b'{"call_id": "x"}\n', "damaged"),
    (encode(call()).replace(b'"attempts":5', b'"attempts":0'), "no attempts"),
    (encode(call()).replace(b'"attempts":5', b'"attempts":"x"'), "damaged"),
])
def test_damaged_messages_are_refused(data, why):
    with pytest.raises(MessageError, match=why):
        decode(data)


@pytest.mark.parametrize(("headers", "kept"), [
    ([("Content-Type", "a/b"), ("X-Hub-Signature-256", "s")],
     (("Content-Type", "a/b"), ("X-Hub-Signature-256", "s"))),
    ([("Host", "h"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked"),
      ("Connection", "keep-alive"), ("Expect", "100-continue")], ()),
    ([("X-Call-Id", "c"), ("X-Start-Time", "1"), ("X-Swarmfaas-Delivery", "tok"),
      ("X-Delivery-Attempt", "2")], ()),
    ([("X-Forwarded-For", "1.2.3.4"), ("X-Callback-Url", "http://a/")],
     (("X-Forwarded-For", "1.2.3.4"), ("X-Callback-Url", "http://a/"))),
])
def test_stored_headers_leave_out_what_a_hop_owns(headers, kept):
    assert stored_headers(headers) == kept


def test_header_lookup_ignores_case():
    assert call(headers=(("X-Callback-Url", "u"),)).header("x-callback-url") == "u"
    assert call().header("x-nothing") is None


@pytest.mark.parametrize(("other", "same"), [
    (call(), True),
    (call(enqueued_at=99.0, headers=()), True),   # sent again: stored once
    (call(body=b"hellO"), False),                 # a call id reused for another request
    (call(path="/a/c"), False),
    (call(query="x=2"), False),
    (call(method="PUT"), False),
    (call(function="other"), False),
    (call(call_id="c-2"), False),
])
def test_the_dedup_id_is_the_same_only_for_the_same_request(other, same):
    assert (dedup_id(other) == dedup_id(call())) is same
