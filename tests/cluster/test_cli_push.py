"""A user's function on the multi-node swarm with the faas CLI alone, as
bench/first_function.py does on one node: login, new, build with the host's
dockerd, push to the cluster's registry, deploy through the system API of
nginx on a manager, call it through nginx on every manager, remove it.

The host's dockerd reaches the registry only through a relay on 127.0.0.1
(`scripts/cluster.sh relay`), which Docker allows over plain HTTP; the nodes
pull by the registry's own address. So the push goes `--push-via` the relay
and the function is deployed as `<registry>/swarmfaas/fn-...@sha256:...`
(docs/multi-node.md, "Images of functions deployed through the API or the CLI")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cluster_swarm import (
    ROOT,
    Cluster,
    cluster_registry,
    running_nodes,
    wait_for,
)

sys.path.insert(0, str(ROOT / "bench"))
from first_function import FAAS, cli_env, step

pytestmark = pytest.mark.cluster

NAME = "sfct-clipush"
IMAGE = f"swarmfaas/fn-{NAME}:latest"   # what `faas new` names it
# Not cluster.sh push's port (45077): a push of the stack may run at the same time.
RELAY_PORT = int(os.environ.get("CLUSTER_CLI_PUSH_PORT", "45079"))


@pytest.fixture
def relay() -> Iterator[str]:
    """127.0.0.1:RELAY_PORT -> the cluster's registry, for the test's length."""
    proc = subprocess.Popen(["bash", str(ROOT / "scripts/cluster.sh"), "relay", str(RELAY_PORT)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    via = f"127.0.0.1:{RELAY_PORT}"

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"cluster.sh relay exited: {proc.stdout.read().decode()[-500:]}")
        try:
            return httpx.get(f"http://{via}/v2/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("the relay to the registry", answers, 60)
    yield via
    proc.terminate()  # socat itself: cluster.sh relay execs it
    proc.wait(10)


@pytest.fixture
def project(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A new user's folder and CLI config; the function and its images go at the end."""
    work = tmp_path / "fns"
    work.mkdir()
    env = cli_env(str(tmp_path))
    cluster.docker("service", "rm", NAME, check=False)
    yield work, env
    cluster.docker("service", "rm", NAME, check=False)  # if the test stopped before remove
    refs = {IMAGE}
    record = work / "build" / f"{NAME}.image.json"
    if record.is_file():
        pinned = json.loads(record.read_text())["pinned"]
        refs |= {pinned, f"127.0.0.1:{RELAY_PORT}/{pinned}"}
    subprocess.run(["docker", "image", "rm", *refs], capture_output=True)


def faas(work: Path, env: dict[str, str], *argv: str, stdin: bytes = b"") -> tuple[float, str]:
    took, out = step([FAAS, *argv], work, env, stdin)
    return took, out.decode()


def test_a_function_pushed_with_the_cli_runs_on_workers_and_answers_on_every_manager(
    cluster: Cluster, relay: str, project: tuple[Path, dict[str, str]]
):
    work, env = project
    registry = cluster_registry()
    state = ROOT / ".state" / cluster.stack
    m1 = cluster.managers[0]
    figures: dict[str, float] = {}

    # The CA's certificate names every manager's address (cluster-deploy.sh): checked.
    ca = state / "certs" / "ca.pem"
    faas(work, env, "login", "-g", cluster.url(m1), "--tls-ca", str(ca),
         "--password-stdin", stdin=(state / "basic-auth-password").read_bytes())
    faas(work, env, "new", NAME, "--lang", "python")
    # This build's own answer, so a reply can only come from these bytes.
    token = uuid.uuid4().hex[:12]
    (work / NAME / "handler.py").write_text(
        f'def handle(req):\n    return "{token}:" + req\n')
    (work / NAME / "handler_test.py").write_text(
        "import unittest\n\nfrom function import handler\n\n\n"
        "class HandlerTest(unittest.TestCase):\n"
        "    def test_answers(self):\n"
        f'        self.assertEqual(handler.handle("a"), "{token}:a")\n')
    # On workers only: the platform runs on the managers, the build on the host.
    stack_file = work / "stack.yml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["functions"][NAME]["constraints"] = ["node.role == worker"]
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))

    figures["build"], _ = faas(work, env, "build")
    figures["push"], _ = faas(work, env, "push", "--registry", registry, "--push-via", relay)
    pushed = json.loads((work / "build" / f"{NAME}.image.json").read_text())["pushed"]
    assert pushed.startswith(f"{registry}/swarmfaas/fn-{NAME}@sha256:"), pushed

    figures["deploy"], _ = faas(work, env, "deploy", "--wait", "180")
    deployed = time.monotonic()

    # The service names the image by registry and digest, as pushed.
    image = cluster.docker("service", "inspect", NAME, "--format",
                           "{{.Spec.TaskTemplate.ContainerSpec.Image}}").strip()
    assert image == pushed
    # Its tasks run on workers, none of which is the host that built it: they
    # pulled the bytes from the registry.
    nodes = running_nodes(cluster, NAME)
    assert nodes and set(nodes) <= {n.hostname for n in cluster.workers}, nodes
    host_node = subprocess.run(["docker", "info", "--format", "{{.Swarm.NodeID}}"],
                               capture_output=True, text=True).stdout.strip()
    assert host_node not in cluster.docker("node", "ls", "--format", "{{.ID}}").split()
    for worker in cluster.workers:
        if worker.hostname in nodes:
            digests = cluster.docker("image", "inspect", "--format", "{{json .RepoDigests}}",
                                     pushed, node=worker)
            assert pushed in json.loads(digests), (worker.name, digests)

    # Through nginx on every manager, with the CLI, checked against the CA.
    for node in cluster.managers:
        def answers(node=node) -> bool:
            # login keeps one gateway's settings: another manager's URL needs its CA
            proc = subprocess.run([FAAS, "invoke", NAME, "--data", node.name, "-g",
                                   cluster.url(node), "--tls-ca", str(ca)], cwd=work, env=env,
                                  capture_output=True, timeout=60)
            answers.last_miss = proc.stderr.decode()[-300:]
            return proc.returncode == 0 and proc.stdout.decode() == f"{token}:{node.name}"
        answers.last_miss = ""
        wait_for(f"the function's answer through nginx on {node.name}", answers, 120)
        figures[f"first answer {node.name}"] = time.monotonic() - deployed
    # ... and from each sidecar behind each nginx, in turn.
    for node in cluster.managers:
        with cluster.client(node) as c:
            for i in range(9):
                r = c.post(f"/function/{NAME}", content=f"probe-{i}".encode())
                assert (r.status_code, r.text) == (200, f"{token}:probe-{i}"), (node.name, r.text)

    figures["remove"], _ = faas(work, env, "remove", NAME)

    def gone() -> bool:
        for node in cluster.managers:
            with cluster.client(node) as c:
                if c.post(f"/function/{NAME}", content=b"x").status_code != 404:
                    return False
        return True

    wait_for("404 on every manager after remove", gone, 60)
    print(f"\n{NAME}: {pushed} on {nodes}; " + ", ".join(
        f"{k} {v:.1f} s" for k, v in figures.items()))
