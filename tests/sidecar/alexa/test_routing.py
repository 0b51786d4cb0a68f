"""Alexa labels and the routing decision, as tables."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from faas_sidecar.alexa.envelope import AlexaRequest
from faas_sidecar.alexa.labels import LabelError, parse_alexa_labels
from faas_sidecar.alexa.rejection import Rejected
from faas_sidecar.alexa.routing import (
    build_index,
    choose_function,
    find_skill,
    intent_service_names,
)
from faas_sidecar.model import FunctionSpec

SKILL = "amzn1.ask.skill.aaaa"
OTHER = "amzn1.ask.skill.bbbb"


@pytest.mark.parametrize(
    ("intent", "names"),
    [
        ("HostnameIntent", ("hostname-intent", "hostnameintent")),
        ("AMAZON.HelpIntent", ("amazon-help-intent", "amazon-helpintent")),
        ("AMAZON.StopIntent", ("amazon-stop-intent", "amazon-stopintent")),
        ("GetHTTPStatusIntent", ("get-http-status-intent", "gethttpstatusintent")),
        ("weather_today", ("weather-today",)),
        ("hello", ("hello",)),
        ("Order2Pizzas", ("order2-pizzas", "order2pizzas")),
        ("X" * 70, ()),  # longer than a service name may be
    ],
)
def test_intent_service_names(intent: str, names: tuple[str, ...]) -> None:
    assert intent_service_names(intent) == names


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, None),
        ({"swarmfaas.function": "true"}, None),
        (
            {"swarmfaas.alexa.skill_ids": f"{SKILL}, {OTHER}", "swarmfaas.alexa.intents": "A,B.C"},
            (frozenset({SKILL, OTHER}), frozenset({"A", "B.C"}), False, True, None),
        ),
        (
            {
                "swarmfaas.alexa.skill_ids": SKILL,
                "swarmfaas.alexa.default": "TRUE",
                "swarmfaas.alexa.verify": "false",
                "swarmfaas.alexa.timeout": "3.5",
            },
            (frozenset({SKILL}), frozenset(), True, False, 3.5),
        ),
    ],
)
def test_parse_labels(labels: dict[str, str], expected: tuple | None) -> None:  # type: ignore[type-arg]
    parsed = parse_alexa_labels(labels)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        got = (parsed.skill_ids, parsed.intents, parsed.default, parsed.verify, parsed.timeout)
        assert got == expected


@pytest.mark.parametrize(
    ("labels", "named"),
    [
        ({"swarmfaas.alexa.intents": "A"}, "swarmfaas.alexa.skill_ids"),
        ({"swarmfaas.alexa.skill_ids": "has space"}, "swarmfaas.alexa.skill_ids"),
        ({"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.intents": "A B"}, "intents"),
        ({"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.verify": "no"}, "verify"),
        ({"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.default": "1"}, "default"),
        ({"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.timeout": "0"}, "timeout"),
        ({"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.timeout": "x"}, "timeout"),
    ],
)
def test_bad_labels_name_the_label(labels: dict[str, str], named: str) -> None:
    with pytest.raises(LabelError, match=named):
        parse_alexa_labels(labels)


def spec(name: str, **labels: str) -> FunctionSpec:
    full = {"swarmfaas.function": "true"} | {f"swarmfaas.alexa.{k}": v for k, v in labels.items()}
    return FunctionSpec(
        name=name,
        service_id=f"id-{name}",
        service_name=f"faas_{name}",
        image="img",
        labels=MappingProxyType(full),
    )


FUNCTIONS = {
    f.name: f
    for f in [
        spec("skill-main", skill_ids=SKILL, default="true", intents="AMAZON.HelpIntent"),
        spec("weather", skill_ids=SKILL, intents="WeatherIntent,ForecastIntent"),
        spec("hostname-intent", skill_ids=f"{SKILL},{OTHER}"),
        spec("hostnameintent", skill_ids=SKILL),  # the old name form; the split form wins
        spec("amazon-stopintent", skill_ids=SKILL),
        spec("not-alexa"),
        spec("stop-intent"),  # no skill: never an Alexa target
        spec("other-only", skill_ids=OTHER, intents="WeatherIntent"),
        spec("broken", skill_ids=SKILL, verify="maybe", intents="BrokenIntent"),
    ]
}


def req(kind: str, intent: str | None = None, app: str = SKILL) -> AlexaRequest:
    return AlexaRequest(kind, "rid", "2024-01-01T00:00:00Z", app, intent)


@pytest.mark.parametrize(
    ("request_", "function"),
    [
        (req("LaunchRequest"), "skill-main"),
        (req("SessionEndedRequest"), "skill-main"),
        (req("Alexa.Presentation.APL.UserEvent"), "skill-main"),
        (req("IntentRequest", "WeatherIntent"), "weather"),  # by label
        (req("CanFulfillIntentRequest", "ForecastIntent"), "weather"),
        (req("IntentRequest", "AMAZON.HelpIntent"), "skill-main"),  # by label, on the default
        (req("IntentRequest", "HostnameIntent"), "hostname-intent"),  # by name
        (req("CanFulfillIntentRequest", "HostnameIntent"), "hostname-intent"),
        (req("IntentRequest", "AMAZON.StopIntent"), "amazon-stopintent"),  # old name form
        (req("IntentRequest", "NotAnyoneIntent"), "skill-main"),  # unclaimed: the default
        (req("IntentRequest", "BrokenIntent"), "skill-main"),  # bad labels: not routable
        (req("IntentRequest", "NotAlexaIntent"), "skill-main"),  # no skill label: never
        (req("IntentRequest", "StopIntent"), "skill-main"),  # 'stop-intent' lacks the skill
        (req("IntentRequest", "WeatherIntent", OTHER), "other-only"),  # per skill
        (req("IntentRequest", "HostnameIntent", OTHER), "hostname-intent"),
    ],
)
def test_choose_function(request_: AlexaRequest, function: str) -> None:
    index = build_index(FUNCTIONS)
    assert choose_function(find_skill(index, request_.application_id), request_) == function


def test_no_default_and_no_match_is_404() -> None:
    index = build_index(FUNCTIONS)
    for request_ in (req("LaunchRequest", app=OTHER), req("IntentRequest", "Nope", OTHER)):
        with pytest.raises(Rejected) as caught:
            choose_function(find_skill(index, OTHER), request_)
        assert (caught.value.status, caught.value.code) == (404, "alexa_no_function")


def test_unknown_application_id_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        find_skill(build_index(FUNCTIONS), "amzn1.ask.skill.unknown")
    assert (caught.value.status, caught.value.code) == (400, "unknown_application_id")


def test_index_reports_bad_labels_and_conflicts() -> None:
    functions = dict(FUNCTIONS)
    functions["weather-two"] = spec("weather-two", skill_ids=SKILL, intents="WeatherIntent")
    functions["main-two"] = spec("main-two", skill_ids=SKILL, default="true")
    index = build_index(functions)
    problems = "\n".join(index.problems)
    assert "'broken'" in problems and "swarmfaas.alexa.verify" in problems
    assert "WeatherIntent is claimed by 'weather' and 'weather-two'" in problems
    assert "several default functions" in problems
    skill = index.skills[SKILL]
    assert (skill.intents["WeatherIntent"], skill.default) == ("weather", "main-two")


@pytest.mark.parametrize(
    ("verify_labels", "verified"),
    [
        (("true", "true"), True),
        (("false", "true"), True),  # one function asking for checks keeps them on
        (("false", "false"), False),
    ],
)
def test_verification_off_only_when_every_function_of_the_skill_says_so(
    verify_labels: tuple[str, str], verified: bool
) -> None:
    functions = {
        "a": spec("a", skill_ids=SKILL, verify=verify_labels[0], default="true"),
        "b": spec("b", skill_ids=SKILL, verify=verify_labels[1]),
    }
    assert build_index(functions).skills[SKILL].verify is verified
