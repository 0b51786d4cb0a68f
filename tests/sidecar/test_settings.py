"""The shared setting readers (faas_sidecar.settings): pure, by table."""

from __future__ import annotations

import pytest

from faas_sidecar.settings import bounded, text


class Bad(ValueError):
    pass


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, None), ({"X": ""}, None), ({"X": "  "}, None), ({"X": " a b "}, "a b")],
)
def test_text(env, expected):
    assert text(env, "X") == expected


@pytest.mark.parametrize(
    ("raw", "cast", "expected"),
    [
        (None, int, 7),  # unset: the default
        ("", int, 7),  # blank: the default
        (" 3 ", int, 3),
        ("10", int, 10),  # bounds are inclusive
        ("0.5", float, 0.5),
        ("1e1", float, 10.0),
    ],
)
def test_bounded_accepts(raw, cast, expected):
    env = {} if raw is None else {"N": raw}
    assert bounded(env, "N", 7, cast, 0, 10, "what", Bad) == expected


@pytest.mark.parametrize(("raw", "cast"), [("x", int), ("1.5", int), ("11", int),
                                           ("-1", float), ("nan", float), ("inf", float)])
def test_bounded_refuses_naming_the_setting(raw, cast):
    with pytest.raises(Bad, match=r"^N='.*': expected a number in \[0, 10\]$"):
        bounded({"N": raw}, "N", 7, cast, 0, 10, "a number in [0, 10]", Bad)
