#!/usr/bin/env python3
"""A small Alexa skill written with Amazon's own ask-sdk-core.

The watchdog runs this once per request (fork mode): the request envelope
arrives on stdin, the SDK dispatches it to a handler, the response envelope
goes to stdout. Signature checks are the sidecar's job (it verifies every
request before this runs), so the SDK's webservice verifiers are not used.

Intents: LaunchRequest, HelloWorldIntent (with an optional {name} slot),
AMAZON.HelpIntent, AMAZON.CancelIntent / AMAZON.StopIntent, SessionEndedRequest,
and a fallback for anything else.
"""

import json
import socket
import sys

from ask_sdk_core.dispatch_components import AbstractExceptionHandler, AbstractRequestHandler
from ask_sdk_core.serialize import DefaultSerializer
from ask_sdk_core.skill_builder import SkillBuilder
from ask_sdk_core.utils import get_slot_value, is_intent_name, is_request_type
from ask_sdk_model import RequestEnvelope

sb = SkillBuilder()


class Launch(AbstractRequestHandler):
    def can_handle(self, handler_input):
        return is_request_type("LaunchRequest")(handler_input)

    def handle(self, handler_input):
        speech = "Welcome to swarmfaas. Say hello, or ask for help."
        return handler_input.response_builder.speak(speech).ask(speech).response


class HelloWorld(AbstractRequestHandler):
    def can_handle(self, handler_input):
        return is_intent_name("HelloWorldIntent")(handler_input)

    def handle(self, handler_input):
        name = get_slot_value(handler_input, "name") if _has_slot(handler_input, "name") else None
        who = name or "world"
        speech = f"Hello {who}, from {socket.gethostname()}."
        return handler_input.response_builder.speak(speech).set_should_end_session(True).response


class Help(AbstractRequestHandler):
    def can_handle(self, handler_input):
        return is_intent_name("AMAZON.HelpIntent")(handler_input)

    def handle(self, handler_input):
        speech = "You can say hello, or ask for the hostname."
        return handler_input.response_builder.speak(speech).ask(speech).response


class Stop(AbstractRequestHandler):
    def can_handle(self, handler_input):
        return is_intent_name("AMAZON.CancelIntent")(handler_input) or is_intent_name(
            "AMAZON.StopIntent"
        )(handler_input)

    def handle(self, handler_input):
        return (
            handler_input.response_builder.speak("Goodbye.").set_should_end_session(True).response
        )


class SessionEnded(AbstractRequestHandler):
    def can_handle(self, handler_input):
        return is_request_type("SessionEndedRequest")(handler_input)

    def handle(self, handler_input):
        return handler_input.response_builder.response


class Fallback(AbstractRequestHandler):
    def can_handle(self, handler_input):
        return True

    def handle(self, handler_input):
        speech = "Sorry, this skill cannot do that yet."
        return handler_input.response_builder.speak(speech).ask(speech).response


class Failed(AbstractExceptionHandler):
    def can_handle(self, handler_input, exception):
        return True

    def handle(self, handler_input, exception):
        print(f"alexa-skill: handler failed: {exception!r}", file=sys.stderr)
        speech = "Sorry, something went wrong."
        return handler_input.response_builder.speak(speech).response


def _has_slot(handler_input, name):
    intent = getattr(handler_input.request_envelope.request, "intent", None)
    return bool(intent and intent.slots and name in intent.slots)


for handler in (Launch(), HelloWorld(), Help(), Stop(), SessionEnded(), Fallback()):
    sb.add_request_handler(handler)
sb.add_exception_handler(Failed())
skill = sb.create()
serializer = DefaultSerializer()


def main() -> int:
    raw = sys.stdin.buffer.read().decode("utf-8")
    envelope = serializer.deserialize(raw, RequestEnvelope)
    request = envelope.request
    print(f"alexa-skill: {request.object_type} {request.request_id}", file=sys.stderr)
    response = skill.invoke(request_envelope=envelope, context=None)
    sys.stdout.write(json.dumps(serializer.serialize(response)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
