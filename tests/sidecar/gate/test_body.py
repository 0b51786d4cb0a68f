"""The gate's reading of a request body as a service spec (pure part of server.py)."""

from __future__ import annotations

import pytest

from faas_sidecar.gate.refusals import Refused
from faas_sidecar.gate.server import _json


@pytest.mark.parametrize("body", [
    b"{", b"[]", b'"spec"', b"\xff\xfe",
    # Deeper than the JSON parser's stack: was an unhandled RecursionError.
    b"[" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000,
])
def test_a_body_that_is_no_spec_is_a_400(body: bytes) -> None:
    with pytest.raises(Refused) as caught:
        _json(bytearray(body))
    assert (caught.value.status, caught.value.code) == (400, "bad_request")


def test_a_spec_is_read() -> None:
    assert _json(bytearray(b'{"Name": "x"}')) == {"Name": "x"}
