"""Which function answers an Alexa request (pure): a skill index, then a decision.

A skill is an application id. Its functions are the ones whose
``swarmfaas.alexa.skill_ids`` label lists it: a function never receives a
request for a skill it does not declare. Within the skill:

1. IntentRequest / CanFulfillIntentRequest: the function whose
   ``swarmfaas.alexa.intents`` lists the intent; else the function whose name
   is the intent's service name (``intent_service_names``); else the default.
2. LaunchRequest, SessionEndedRequest and every other request type: the
   function labelled ``swarmfaas.alexa.default=true``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..labels import is_valid_name
from ..model import FunctionSpec
from . import rejection
from .envelope import AlexaRequest
from .labels import AlexaLabels, LabelError, parse_alexa_labels

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def intent_service_names(intent: str) -> tuple[str, ...]:
    """Function names an intent maps to, in the order they are tried.

    Swarm service names are lower case, intent names are CamelCase with dots
    and underscores. First the words split at case changes (``HostnameIntent``
    -> ``hostname-intent``, ``AMAZON.HelpIntent`` -> ``amazon-help-intent``),
    then the original gateway's plain lower case (``hostnameintent``,
    ``amazon-helpintent``); dots and underscores become dashes in both.
    """
    names = []
    for text in (_CAMEL.sub("-", intent), intent):
        name = re.sub(r"-{2,}", "-", re.sub(r"[._]", "-", text.lower())).strip("-")
        if is_valid_name(name) and name not in names:
            names.append(name)
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Skill:
    application_id: str
    functions: tuple[str, ...]  # sorted names of the functions that declare the skill
    intents: Mapping[str, str]  # intent -> function, from the intents labels
    default: str | None
    verify: bool  # False only when every function of the skill says verify=false


@dataclass(frozen=True, slots=True)
class SkillIndex:
    skills: Mapping[str, Skill] = field(default_factory=dict)
    labels: Mapping[str, AlexaLabels] = field(default_factory=dict)  # function -> its labels
    problems: tuple[str, ...] = ()  # bad labels and conflicts, for the log


def build_index(functions: Mapping[str, FunctionSpec]) -> SkillIndex:
    parsed: dict[str, AlexaLabels] = {}
    problems: list[str] = []
    for name in sorted(functions):
        try:
            labels = parse_alexa_labels(functions[name].labels)
        except LabelError as exc:
            problems.append(f"function {name!r} is not routable for Alexa: {exc}")
            continue
        if labels is not None:
            parsed[name] = labels
    skills = {}
    for app_id in sorted({s for labels in parsed.values() for s in labels.skill_ids}):
        members = tuple(n for n in sorted(parsed) if app_id in parsed[n].skill_ids)
        intents: dict[str, str] = {}
        defaults = []
        for name in members:
            for intent in sorted(parsed[name].intents):
                if intent in intents:
                    problems.append(
                        f"skill {app_id}: intent {intent} is claimed by {intents[intent]!r} "
                        f"and {name!r}; {intents[intent]!r} gets it"
                    )
                    continue
                intents[intent] = name
            if parsed[name].default:
                defaults.append(name)
        if len(defaults) > 1:
            problems.append(
                f"skill {app_id}: several default functions {defaults}; {defaults[0]!r} is used"
            )
        skills[app_id] = Skill(
            application_id=app_id,
            functions=members,
            intents=intents,
            default=defaults[0] if defaults else None,
            verify=any(parsed[n].verify for n in members),
        )
    return SkillIndex(skills=skills, labels=parsed, problems=tuple(problems))


def find_skill(index: SkillIndex, application_id: str) -> Skill:
    skill = index.skills.get(application_id)
    if skill is None:
        raise rejection.unknown_application_id(application_id)
    return skill


def choose_function(skill: Skill, request: AlexaRequest) -> str:
    if request.intent is not None:
        claimed = skill.intents.get(request.intent)
        if claimed is not None:
            return claimed
        for name in intent_service_names(request.intent):
            if name in skill.functions:
                return name
    if skill.default is not None:
        return skill.default
    what = f"intent {request.intent}" if request.intent else request.request_type
    raise rejection.no_function(skill.application_id, what)
