"""Properties of the label parsers, searched with hypothesis: whatever an
operator writes in a service's labels, a parser returns its value or raises
its documented error naming the label (LabelError, InvalidFunction,
ScaleLabelError), never anything else: one bad service must not stop
discovery for every other function."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from faas_sidecar import labels as keys
from faas_sidecar.alexa.labels import parse_alexa_labels
from faas_sidecar.labels import NAME_PRECHECK, NAME_RE, LabelError, is_decimal, is_valid_name
from faas_sidecar.ratelimit import parse_rate_limit
from faas_sidecar.scaler.labels import ScaleLabelError, parse_scale_labels
from faas_sidecar.spec import InvalidFunction, parse_service
from faas_sidecar.webhooks.labels import parse_webhook_labels

KEYS = [row.key for row in keys.DOCUMENTED if "<" not in row.key]
KEYS += list(keys.OPENFAAS_SCALE.values())
# Label values: the tricky ones (numbers of every form, unicode digits,
# whitespace, separators) mixed with arbitrary text.
VALUES = st.one_of(
    st.sampled_from(["", " ", "0", "1", "-1", "1e3", "inf", "nan", "NaN", "1.5", "65536", "true",
                     "TRUE", "false", "²", "١٢", "3\u00a0", " 8080 ", "0x10", "+5", "1_000",
                     "github", "hmac", "sha1", "hex", ",", "a,,b", "amzn1.ask.skill.x"]),
    st.text(max_size=30),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
LABELS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)


def _service(labels: dict[str, str], name: str = "fn") -> dict:
    return {"ID": "s1", "Version": {"Index": 1},
            "Spec": {"Name": name, "Labels": {keys.FUNCTION: "true", **labels},
                     "Mode": {"Replicated": {"Replicas": 1}},
                     "TaskTemplate": {"ContainerSpec": {"Image": "x:1"}}}}


@given(LABELS)
@example({keys.PORT: "²"})
@example({keys.RATELIMIT_RPS: "1", keys.RATELIMIT_BURST: "²"})
def test_a_service_parses_or_is_an_invalid_function(labels: dict[str, str]) -> None:
    try:
        spec = parse_service(_service(labels))
    except InvalidFunction as exc:
        assert str(exc)
        return
    assert 1 <= spec.port <= 65535
    assert 0 < spec.timeout <= keys.MAX_TIMEOUT


@given(LABELS)
@example({keys.SCALE_MIN: "²"})
def test_the_scale_labels_parse_or_name_the_label(labels: dict[str, str]) -> None:
    try:
        spec = parse_scale_labels(labels)
    except ScaleLabelError as exc:
        assert "label " in str(exc)
        return
    assert 1 <= spec.min <= spec.max


@given(LABELS)
def test_the_alexa_rate_limit_and_webhook_labels_parse_or_name_the_label(labels) -> None:
    for parse in (parse_alexa_labels, parse_rate_limit, parse_webhook_labels):
        try:
            parse(labels)
        except LabelError as exc:
            assert keys.PREFIX in str(exc), (parse, exc)  # names the label


@given(st.text(max_size=70))
@example("a" * 63)
@example("-a")
@example("0\n")
def test_a_valid_name_is_one_the_fast_path_precheck_takes(name: str) -> None:
    assert is_valid_name(name) == bool(NAME_RE.fullmatch(name))
    if is_valid_name(name):
        import re

        assert re.fullmatch(NAME_PRECHECK, name)
        assert len(name) <= keys.NAME_MAX


@given(st.text(max_size=12))
@example("²")
@example("١٢")
def test_is_decimal_is_exactly_what_int_takes_as_plain_digits(text: str) -> None:
    if is_decimal(text):
        assert int(text) >= 0 and str(int(text)).lstrip("0") == text.lstrip("0")
    else:
        assert not (text and all("0" <= c <= "9" for c in text))
