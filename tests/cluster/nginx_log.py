"""What nginx on a manager says it did with each call: its JSON access log,
read through `docker logs`, by call id. A request nginx sent on to another
sidecar after a failure lists every address it tried (``upstream_addr``
"a, b"), so a test can tell the requests written to a sidecar that died from
those nginx sent elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cluster_swarm import Cluster, Node


@dataclass(frozen=True)
class Logged:
    status: str
    upstreams: tuple[str, ...]  # every sidecar address nginx tried, in order

    @property
    def last(self) -> str:
        return self.upstreams[-1] if self.upstreams else ""


def parse_access_log(lines: Iterable[str], prefix: str) -> dict[str, Logged]:
    """The access log's entries whose call id starts with ``prefix``; other
    lines (nginx's own, the supervisor's) are skipped."""
    calls: dict[str, Logged] = {}
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        call_id = entry.get("call_id", "")
        if not call_id.startswith(prefix):
            continue
        # "a, b" for tries; "a : b" when an internal redirect made a new try
        tried = entry.get("upstream_addr", "").replace(" : ", ", ")
        upstreams = tuple(a.strip() for a in tried.split(",") if a.strip())
        calls[call_id] = Logged(entry.get("status", ""), upstreams)
    return calls


@dataclass(frozen=True)
class BySidecar:
    failed_there: list[Any]      # failed, and nginx's last try was the sidecar
    failed_elsewhere: list[Any]  # failed otherwise (or nginx never logged it)
    resent: list[Any]            # answered by another sidecar after a failure there


def sort_by_sidecar(outcomes: Sequence[Any], calls: Mapping[str, Logged],
                    sidecar: str) -> BySidecar:
    """Outcomes (with ``result`` and ``call_id``) sorted by what nginx did
    with them, as seen from one sidecar (``host:port``)."""
    there, elsewhere, resent = [], [], []
    for outcome in outcomes:
        logged = calls.get(outcome.call_id)
        if outcome.result != "ok":
            (there if logged is not None and logged.last == sidecar else elsewhere).append(outcome)
        elif logged is not None and sidecar in logged.upstreams[:-1]:
            resent.append(outcome)
    return BySidecar(there, elsewhere, resent)


def nginx_calls(cluster: Cluster, node: Node, prefix: str) -> dict[str, Logged]:
    """The access log (nginx's stdout) by call id."""
    out, _ = cluster.logs(cluster.container(node, "nginx"), node)
    return parse_access_log(out.splitlines(), prefix)


def sidecar_changes(cluster: Cluster, node: Node) -> int:
    """How often nginx's supervisor (its log is the container's stderr) has
    handed nginx a new list of sidecar addresses, and checks it never
    reloaded nginx for one."""
    _, err = cluster.logs(cluster.container(node, "nginx"), node)
    assert "reloaded nginx" not in err, "nginx was reloaded"
    return err.count("(no reload)")


def edge_address(cluster: Cluster, node: Node, container: str) -> str:
    """A container's address on the stack's edge network: how nginx names it."""
    network = f'(index .NetworkSettings.Networks "{cluster.stack}_edge")'
    return cluster.docker("inspect", container, "--format", f"{{{{{network}.IPAddress}}}}",
                          node=node).strip()
