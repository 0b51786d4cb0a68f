"""scripts/cluster_images.py: on a multi-node swarm every service of ours names
its image by the cluster's registry and the digest that was pushed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("cluster_images", REPO / "scripts/cluster_images.py")
cluster_images = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cluster_images)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        ("swarmfaas/echo:${TAG:-latest}", "swarmfaas/echo"),
        ("swarmfaas/echo", "swarmfaas/echo"),
        ("swarmfaas/echo@" + D1, "swarmfaas/echo"),
        ("127.0.0.1:5000/swarmfaas/echo:t", "127.0.0.1:5000/swarmfaas/echo"),
        ("redis:7", "redis"),
    ],
)
def test_the_repository_is_the_name_without_tag_or_digest(image, repo):
    assert cluster_images.repository(image) == repo


def test_services_of_ours_are_pinned_others_are_left_alone():
    services = {
        "sidecar": {"image": "swarmfaas/sidecar:${TAG:-latest}"},
        "engine-gate": {"image": "swarmfaas/sidecar:${TAG:-latest}", "command": ["x"]},
        "echo": {"image": "swarmfaas/fn-echo:${TAG:-latest}"},
        "cache": {"image": "redis:7"},
    }
    digests = {"swarmfaas/sidecar": D1, "swarmfaas/fn-echo": D2}
    assert cluster_images.pinned(services, digests, "10.77.0.11:5000") == {
        "echo": {"image": f"10.77.0.11:5000/swarmfaas/fn-echo@{D2}"},
        "engine-gate": {"image": f"10.77.0.11:5000/swarmfaas/sidecar@{D1}"},
        "sidecar": {"image": f"10.77.0.11:5000/swarmfaas/sidecar@{D1}"},
    }


def test_an_image_of_ours_that_was_not_pushed_is_named():
    with pytest.raises(ValueError, match="service nginx: image swarmfaas/nginx was not pushed"):
        cluster_images.pinned({"nginx": {"image": "swarmfaas/nginx:t"}}, {}, "r:5000")


@pytest.mark.parametrize("text", ["swarmfaas/echo sha256:abc", "swarmfaas/echo md5:" + "1" * 64])
def test_a_bad_digest_line_is_refused(text):
    with pytest.raises(ValueError, match="swarmfaas/echo"):
        cluster_images.parse_digests(text)


def test_the_overlay_file_covers_every_service_of_stack_yml(tmp_path, capsys):
    import yaml

    stack = yaml.safe_load((REPO / "stack.yml").read_text())["services"]
    repos = {cluster_images.repository(s["image"]) for s in stack.values()}
    assert "swarmfaas/sidecar" in repos and "swarmfaas/fn-echo" in repos
    digests = tmp_path / "digests"
    digests.write_text("".join(f"{r} {D1}\n" for r in sorted(repos)))
    rc = cluster_images.main(["--registry", "r:5000", "--digests", str(digests),
                              "-c", str(REPO / "stack.yml")])
    assert rc == 0
    services = yaml.safe_load(capsys.readouterr().out)["services"]
    assert set(services) == set(stack)
    assert all(s["image"].startswith("r:5000/swarmfaas/") for s in services.values())
