#!/usr/bin/env python3
"""Write the GitHub payloads the tests use, from @octokit/webhooks-examples.

    npm pack @octokit/webhooks-examples@7.6.1     # sha256 89e6cb1c...9738280
    tar xzf octokit-webhooks-examples-7.6.1.tgz
    python3 tests/sidecar/webhooks/github/vendor.py package/api.github.com/index.json

Each file is one example payload as a webhook body: compact JSON in UTF-8, the
form GitHub sends with content type application/json. See README.md here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (event, index of the example in the package's list for that event)
CHOSEN = (("ping", 0), ("push", 0), ("pull_request", 0), ("issues", 15),
          ("issue_comment", 0))


def main(index_json: str) -> int:
    listed = json.loads(Path(index_json).read_text())
    events = {entry["name"]: entry["examples"] for entry in listed}
    for event, i in CHOSEN:
        example = events[event][i]
        name = f"{event}.{example['action']}.json" if "action" in example else f"{event}.json"
        body = json.dumps(example, ensure_ascii=False, separators=(",", ":")).encode()
        (HERE / name).write_bytes(body)
        print(name, len(body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
