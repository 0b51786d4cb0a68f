"""GET /system/logs, pure parts: the query, the Engine's frames, OpenFaaS's lines."""

from __future__ import annotations

import json
import struct
from urllib.parse import parse_qs

import pytest

from faas_sidecar.errors import PlatformError
from faas_sidecar.system.logs import (
    FrameReader,
    LogQuery,
    engine_params,
    log_entry,
    ndjson,
    parse_log_query,
)


def q(text: str):
    return parse_log_query(parse_qs(text, keep_blank_values=True))


@pytest.mark.parametrize(("text", "expected"), [
    ("name=echo", LogQuery("echo")),
    ("name=echo&follow=true", LogQuery("echo", follow=True)),
    ("name=echo&follow=1", LogQuery("echo", follow=True)),
    ("name=echo&follow=false&tail=", LogQuery("echo")),
    ("name=echo&tail=10", LogQuery("echo", tail=10)),
    ("name=echo&tail=0", LogQuery("echo")),      # OpenFaaS: <= 0 is unlimited
    ("name=echo&tail=-1", LogQuery("echo")),
    ("name=echo&since=2026-12-06T10:00:00Z", LogQuery("echo", since=1796551200.0)),
    ("name=echo&since=2026-12-06T11:00:00.5%2B01:00", LogQuery("echo", since=1796551200.5)),
    ("name=echo&namespace=openfaas-fn", LogQuery("echo")),
    ("name=echo&namespace=swarmfaas-fn&instance=t1", LogQuery("echo", instance="t1")),
])
def test_parse_log_query(text, expected):
    assert q(text) == expected


@pytest.mark.parametrize(("text", "status", "words"), [
    ("", 400, "name"),
    ("name=", 400, "name"),
    ("name=Echo", 400, "function name"),
    ("name=echo&name=other", 400, "once"),
    ("name=echo&follow=maybe", 400, "follow"),
    ("name=echo&tail=ten", 400, "tail"),
    ("name=echo&tail=100001", 400, "tail"),
    ("name=echo&since=yesterday", 400, "RFC 3339"),
    ("name=echo&since=2026-12-06T10:00:00", 400, "time zone"),
    ("name=echo&namespace=kube-system", 404, "namespace"),
])
def test_parse_log_query_rejects(text, status, words):
    with pytest.raises(PlatformError) as info:
        q(text)
    assert info.value.status == status and words in info.value.reason


@pytest.mark.parametrize(("query", "params"), [
    (LogQuery("echo"), {"follow": "0", "tail": "all"}),
    (LogQuery("echo", follow=True, tail=5), {"follow": "1", "tail": "5"}),
    (LogQuery("echo", since=1796551200.0), {"since": "1796551200", "tail": "all"}),
    (LogQuery("echo", since=1796551200.25), {"since": "1796551200.25"}),
])
def test_engine_params(query, params):
    got = engine_params(query)
    assert {k: got[k] for k in params} == params
    assert {k: got[k] for k in ("stdout", "stderr", "timestamps", "details")} == {
        "stdout": "1", "stderr": "1", "timestamps": "1", "details": "1"}


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


DETAILS = (b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,"
           b"com.docker.swarm.task.id=t1")


def test_frames_split_across_reads_in_any_place():
    data = frame(1, b"one\n") + frame(2, b"two\n") + frame(1, b"")
    for cut in range(len(data) + 1):
        reader = FrameReader()
        got = reader.feed(data[:cut]) + reader.feed(data[cut:])
        assert got == [b"one\n", b"two\n", b""], cut


@pytest.mark.parametrize(("payload", "instance", "timestamp", "text"), [
    (b"2026-12-06T23:08:40.836126930Z " + DETAILS + b" hello\n",
     "t1", "2026-12-06T23:08:40.836126930Z", "hello"),
    (b"2026-12-06T23:08:40Z " + DETAILS + b" two  spaces kept \n",
     "t1", "2026-12-06T23:08:40Z", "two  spaces kept "),
    (b"2026-12-06T23:08:40Z " + DETAILS + b" \n", "t1", "2026-12-06T23:08:40Z", ""),
    (b"2026-12-06T23:08:40Z no details here\n", "", "2026-12-06T23:08:40Z",
     "no details here"),
    (b"2026-12-06T23:08:40Z " + DETAILS + b" caf\xc3\xa9 \xff\n", "t1",
     "2026-12-06T23:08:40Z", "café \ufffd"),
])
def test_log_entry(payload, instance, timestamp, text):
    entry = log_entry("echo", payload)
    assert entry == {"name": "echo", "namespace": "swarmfaas-fn", "instance": instance,
                     "timestamp": timestamp, "text": text}
    line = ndjson(entry)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == entry
