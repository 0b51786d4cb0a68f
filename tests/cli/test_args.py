from datetime import UTC, datetime

import pytest

from faas_cli import args
from faas_cli.errors import CliError, Exit


@pytest.mark.parametrize(("values", "want"), [
    ((), []),
    (("A=1", "B=x=y", "A=2"), [("A", "1"), ("B", "x=y"), ("A", "2")]),
    ((" K =v",), [("K", "v")]),
    (("E=",), [("E", "")]),
])
def test_pairs(values, want):
    assert args.pairs(values, "--header") == want


@pytest.mark.parametrize("bad", ["novalue", "=v", " =v"])
def test_pairs_bad(bad):
    with pytest.raises(CliError) as e:
        args.pairs((bad,), "--query")
    assert e.value.code == Exit.USAGE and "--query" in e.value.message


NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "want"), [
    ("", ""),
    ("10s", "2026-12-06T11:59:50+00:00"),
    ("5m", "2026-12-06T11:55:00+00:00"),
    ("2h", "2026-12-06T10:00:00+00:00"),
    ("1d", "2026-12-05T12:00:00+00:00"),
    ("2026-12-04T10:00:00Z", "2026-12-04T10:00:00+00:00"),
    ("2026-12-04T10:00:00+01:00", "2026-12-04T10:00:00+01:00"),
    ("2026-12-04T10:00:00", "2026-12-04T10:00:00+00:00"),  # no zone: UTC
    ("yesterday", None), ("10", None), ("5 m", None), ("2026-13-04T10:00:00Z", None),
])
def test_since(value, want):
    """A duration becomes the RFC 3339 time the API takes (OpenFaaS's `since`)."""
    if want is not None:
        assert args.since(value, now=NOW) == want
    else:
        with pytest.raises(CliError) as e:
            args.since(value, now=NOW)
        assert e.value.code == Exit.USAGE


@pytest.mark.parametrize(("n", "ok"), [(0, True), (3, True), (-1, False), (1001, False)])
def test_replicas(n, ok):
    if ok:
        assert args.replicas(n) == n
    else:
        with pytest.raises(CliError):
            args.replicas(n)
