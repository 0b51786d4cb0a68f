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


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("10s", True), ("5m", True), ("2h", True), ("1d", True),
    ("2026-12-04T10:00:00Z", True), ("yesterday", False), ("10", False), ("5 m", False),
])
def test_since(value, ok):
    if ok:
        assert args.since(value) == value
    else:
        with pytest.raises(CliError):
            args.since(value)


@pytest.mark.parametrize(("n", "ok"), [(0, True), (3, True), (-1, False), (1001, False)])
def test_replicas(n, ok):
    if ok:
        assert args.replicas(n) == n
    else:
        with pytest.raises(CliError):
            args.replicas(n)
