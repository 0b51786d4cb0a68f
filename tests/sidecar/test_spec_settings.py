"""The label-derived settings of a function, parsed once per distinct set of
settings labels in a build (spec_settings), and the service order of a build
(spec.oldest_first): pure, table-driven."""

from __future__ import annotations

from dataclasses import fields

import pytest

from faas_sidecar import labels as keys
from faas_sidecar.spec import (
    ParsedService,
    build_table,
    function_spec,
    oldest_first,
    parse_service,
)
from faas_sidecar.spec_settings import (
    SETTINGS_PREFIXES,
    Settings,
    cached,
    parse_settings,
    settings_key,
)

F = ("swarmfaas.function", "true")


@pytest.mark.parametrize("labels, env, key", [
    ({}, None, ((), None)),
    (dict([F]), None, ((F,), None)),
    # the function's name and Docker's own labels are not settings
    ({"swarmfaas.name": "a", "com.docker.stack.namespace": "faas",
      "com.docker.stack.image": "img:1", **dict([F])}, None, ((F,), None)),
    ({"swarmfaas.timeout": "5", "com.openfaas.scale.zero": "true", "other": "x"}, None,
     ((("swarmfaas.timeout", "5"), ("com.openfaas.scale.zero", "true")), None)),
    # label order is kept
    ({"swarmfaas.port": "1", "swarmfaas.timeout": "2"}, None,
     ((("swarmfaas.port", "1"), ("swarmfaas.timeout", "2")), None)),
    ({"swarmfaas.timeout": "2", "swarmfaas.port": "1"}, None,
     ((("swarmfaas.timeout", "2"), ("swarmfaas.port", "1")), None)),
    # only max_inflight of the environment, the last one winning as in Docker
    ({}, ["A=1", "max_inflight=4", "max_inflight=2", "B=2"], ((), "2")),
    ({}, ["max_inflight"], ((), None)),
    ({}, [], ((), None)),
])
def test_settings_key(labels, env, key):
    assert settings_key(labels, env) == key


def test_every_settings_label_has_a_settings_prefix():
    # A label read outside these prefixes would be missed by the cache key.
    not_settings = {keys.FUNCTION, keys.NAME, keys.SECRET, keys.STACK_NAMESPACE,
                    keys.OPENFAAS_FUNCTION}
    assert keys.FUNCTION.startswith(SETTINGS_PREFIXES)
    for label in keys.DOCUMENTED:
        if label.key not in not_settings:
            assert label.key.startswith(SETTINGS_PREFIXES), label.key


LABEL_SETS = [
    {},
    {"swarmfaas.port": "9000", "swarmfaas.timeout": "2.5"},
    {"swarmfaas.webhook.scheme": "github", "swarmfaas.webhook.secrets": "gh"},
    {"swarmfaas.ratelimit.rps": "5"},
    {"swarmfaas.queue.length": "3", "swarmfaas.queue.wait": "1"},
    {"swarmfaas.async": "true", "swarmfaas.async.attempts": "3"},
    {"swarmfaas.schedule": "@hourly"},
    {"swarmfaas.scale.zero": "true", "com.openfaas.scale.type": "cpu"},
    {"com.openfaas.scale.zero": "TRUE"},
]


@pytest.mark.parametrize("labels", LABEL_SETS)
@pytest.mark.parametrize("env", [None, ["max_inflight=2"]])
def test_the_key_holds_all_the_settings_depend_on(labels, env):
    full = {**dict([F]), "swarmfaas.name": "n", "com.docker.stack.image": "i", **labels}
    only_key = dict(settings_key(full, env)[0])
    assert parse_settings(full, env) == parse_settings(only_key, env)


# A bad label: the message, in the order parse_service has always checked them.
@pytest.mark.parametrize("labels, message", [
    ({"swarmfaas.port": "0"}, "swarmfaas.port='0' is not a port number (1-65535)"),
    ({"swarmfaas.timeout": "x"}, "swarmfaas.timeout='x' is not a number of seconds"),
    ({"swarmfaas.port": "x", "swarmfaas.timeout": "x"}, "swarmfaas.port="),
    ({"swarmfaas.timeout": "x", "swarmfaas.ratelimit.rps": "-1"}, "swarmfaas.ratelimit.rps="),
    ({"swarmfaas.port": "x", "swarmfaas.schedule.catch_up": "5"},
     "swarmfaas.schedule.catch_up is set but swarmfaas.schedule is not"),
])
def test_cached_gives_the_first_bad_labels_message(labels, message):
    found = cached(labels, None, {})
    assert isinstance(found, str) and found.startswith(message)


def test_cached_parses_a_set_once():
    cache: dict = {}
    first = cached({"swarmfaas.timeout": "5", "swarmfaas.name": "a"}, None, cache)
    second = cached({"swarmfaas.timeout": "5", "swarmfaas.name": "b", "x": "y"}, None, cache)
    assert first is second and len(cache) == 1
    assert cached({"swarmfaas.timeout": "5"}, ["max_inflight=1"], cache) != first
    assert len(cache) == 2


def _service(sid, name, labels, env=None):
    return {"ID": sid, "Version": {"Index": 1}, "CreatedAt": "2026-01-01T00:00:00Z",
            "Spec": {"Name": name, "Labels": {"swarmfaas.function": "true", **labels},
                     "Mode": {"Replicated": {"Replicas": 1}},
                     "TaskTemplate": {"ContainerSpec": {"Image": "img:1", "Env": env}}}}


def test_a_build_gives_each_service_what_parse_service_gives_it():
    services = [
        _service("s1", "a", {"swarmfaas.timeout": "5"}),
        _service("s2", "b", {"swarmfaas.timeout": "5"}),
        _service("s3", "c", {"swarmfaas.timeout": "5"}, ["max_inflight=2"]),
        _service("s4", "d", {"swarmfaas.timeout": "5", "swarmfaas.name": "named"}),
        _service("s5", "e", {"swarmfaas.timeout": "0"}),
        _service("s6", "f", {"swarmfaas.timeout": "0"}),
        _service("s7", "BAD", {"swarmfaas.timeout": "5"}),
    ]
    table = build_table(services, [], "net", generation=1, built_at=0.0).table
    assert set(table.functions) == {"a", "b", "c", "named"}
    for service in services[:4]:
        expected = parse_service(service)
        assert table.functions[expected.name] == expected
    assert table.functions["c"].queue is not None and table.functions["a"].queue is None
    assert table.invalid["e"] == table.invalid["f"]
    assert table.invalid["e"].startswith("swarmfaas.timeout='0'")
    assert table.invalid["BAD"].startswith("function name 'BAD' does not match")


def _doc(sid, created=None):
    doc = {"ID": sid} if sid is not None else {}
    if created is not None:
        doc["CreatedAt"] = created
    return doc


@pytest.mark.parametrize("docs", [
    [],
    [_doc("b", "2"), _doc("a", "2"), _doc("c", "1")],
    [_doc("a", "2"), _doc("a", "1"), _doc("a", "1")],
    # a document without CreatedAt or ID sorts as ""
    [_doc("b", "1"), _doc("a"), _doc(None, "0")],
    # IDs that cannot be compared, never compared since CreatedAt decides
    [_doc(2, "b"), _doc("x", "a")],
])
def test_oldest_first_sorts_by_created_then_id(docs):
    by_pair = sorted(docs, key=lambda s: (s.get("CreatedAt", ""), s.get("ID", "")))
    ordered = oldest_first(iter(docs))
    assert ordered == by_pair
    # ties keep their order in the listing, as one sort by the pair does
    assert [id(d) for d in ordered] == [id(d) for d in by_pair]


def test_oldest_first_raises_as_a_sort_by_the_pair_does():
    with pytest.raises(TypeError):
        oldest_first([_doc(2, "a"), _doc("x", "a")])


def test_function_spec_puts_every_field_in_its_place():
    # function_spec fills FunctionSpec's slots one by one: each field by name here
    settings = Settings(*(f"settings.{name}" for name in Settings._fields))
    parsed = ParsedService(*(f"parsed.{name}" for name in ParsedService._fields[:-1]), settings)
    spec = function_spec(parsed, ("replica",), "error")
    for f in fields(spec):
        expected = {"replicas": ("replica",), "task_error": "error"}.get(f.name)
        if expected is None:
            source = parsed if f.name in ParsedService._fields else settings
            prefix = "parsed" if source is parsed else "settings"
            expected = f"{prefix}.{f.name}"
        assert getattr(spec, f.name) == expected, f.name
