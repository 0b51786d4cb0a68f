#!/usr/bin/env python3
"""HostnameIntent: answers with the container's hostname, as Alexa speech JSON.

The watchdog runs this once per request (fork mode): the Alexa request
envelope arrives on stdin, the response JSON goes to stdout. The sidecar has
already validated and verified the envelope. One line per request goes to
stderr (the container's log) with the request id.
"""

import json
import socket
import sys


def answer(envelope: dict) -> dict:
    request = envelope.get("request") or {}
    if request.get("type") == "SessionEndedRequest":
        return {"version": "1.0", "response": {}}  # Alexa ignores any speech here
    text = f"Your hostname is {socket.gethostname()}."
    return {
        "version": "1.0",
        "response": {
            "outputSpeech": {"type": "PlainText", "text": text},
            "card": {"type": "Simple", "title": "Hostname", "content": text},
            "shouldEndSession": True,
        },
    }


def main() -> int:
    try:
        envelope = json.loads(sys.stdin.buffer.read() or b"{}")
    except ValueError:
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    request = envelope.get("request") or {}
    print(f"hostname-intent: {request.get('type')} {request.get('requestId')}", file=sys.stderr)
    sys.stdout.write(json.dumps(answer(envelope)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
