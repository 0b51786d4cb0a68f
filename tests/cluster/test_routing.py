"""Functions placed only on workers are called through nginx on each manager:
the sidecars (on managers) route to tasks on other nodes by their overlay
addresses (dnsrr, no IPVS)."""

from __future__ import annotations

import pytest
from cluster_swarm import routable_everywhere, running_nodes, wait_for

pytestmark = pytest.mark.cluster


def test_functions_on_workers_only_answer_through_nginx_on_every_manager(
    cluster, function_service
):
    name = function_service("workers-only", 2, "node.role==worker")
    worker_names = sorted(n.hostname for n in cluster.workers)
    wait_for("2 tasks running", lambda: len(running_nodes(cluster, name)) == 2, 120)
    assert set(running_nodes(cluster, name)) <= set(worker_names)
    took = wait_for("routable through every manager's nginx",
                    routable_everywhere(cluster, name), 120)
    print(f"\n{name}: on {running_nodes(cluster, name)}, routable at every manager "
          f"{took:.1f} s after its tasks ran")

    # nginx on each manager answers with each of the manager's sidecars behind it.
    body = b"x" * 200_000
    for node in cluster.managers:
        with cluster.client(node) as c:
            for _ in range(6):
                r = c.post(f"/function/{name}", content=body)
                assert r.status_code == 200, (node.name, r.status_code, r.text[:200])
                assert r.content == body


def test_the_platform_runs_where_stack_yml_and_the_cluster_file_put_it(cluster):
    managers = {n.hostname for n in cluster.managers}
    for service, count in [("nginx", 3), ("sidecar", 3), ("engine-gate", 3)]:
        nodes = running_nodes(cluster, f"{cluster.stack}_{service}")
        assert len(nodes) == count, (service, nodes)
        assert len(set(nodes)) == count, f"{service}: two replicas on one node: {nodes}"
        assert set(nodes) <= managers, (service, nodes)


def test_every_node_runs_the_pushed_bytes(cluster):
    out = cluster.docker("service", "inspect", f"{cluster.stack}_sidecar",
                         "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}")
    assert out.strip() == cluster.images["sidecar"]
    assert "@sha256:" in out
