"""cluster/stack.cluster.yml: a service that writes a named volume (node-local
state) is pinned to a labelled node on a swarm of several nodes, so a task
started again finds its data (docs/multi-node.md, "State on several nodes")."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _writers(stack: dict) -> set[str]:
    """Services of stack.yml that mount a named volume read-write."""
    named = set(stack.get("volumes") or {})
    writers = set()
    for name, service in stack["services"].items():
        for volume in service.get("volumes") or []:
            if not isinstance(volume, str):
                continue
            source, _, rest = volume.partition(":")
            if source in named and not rest.endswith(":ro"):
                writers.add(name)
    return writers


def test_every_writer_of_a_named_volume_is_pinned_to_a_labelled_node():
    stack = yaml.safe_load((REPO / "stack.yml").read_text())
    cluster = yaml.safe_load((REPO / "cluster/stack.cluster.yml").read_text())["services"]
    writers = _writers(stack)
    assert {"broker", "certbot", "webhookstash"} <= writers  # what the rule covers today
    for name in writers:
        constraints = (cluster.get(name, {}).get("deploy", {}).get("placement", {})
                       .get("constraints", []))
        assert any(c.startswith("node.labels.swarmfaas.") for c in constraints), name
