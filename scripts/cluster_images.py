"""Pin a stack's images to the cluster's registry by digest (scripts/cluster-deploy.sh).

    python scripts/cluster_images.py --registry 10.77.0.11:5000 \\
        --digests .state/cluster/digests -c stack.yml > images.yml

Every service whose image is one of ours (`swarmfaas/<name>:<tag>`) gets, in a
compose file deployed on top of stack.yml, `REGISTRY/swarmfaas/<name>@sha256:...`
instead: each node pulls exactly the bytes that were pushed, whatever a tag
says by then. stack.yml itself keeps its names, so one node needs no registry.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def repository(image: str) -> str:
    """`swarmfaas/echo` of `swarmfaas/echo:${TAG:-latest}`: the name before the tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def parse_digests(text: str) -> dict[str, str]:
    """Lines of `<repository> sha256:<hex>`, as scripts/cluster.sh push writes them."""
    digests = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        repo, digest = line.split()
        if not digest.startswith("sha256:") or len(digest) != 71:
            raise ValueError(f"not a sha256 digest for {repo}: {digest!r}")
        digests[repo] = digest
    return digests


def pinned(
    services: Mapping[str, Mapping[str, Any]], digests: Mapping[str, str], registry: str
) -> dict[str, dict[str, str]]:
    """The services whose image was pushed, each with its image by registry and digest.
    A service of ours whose image was not pushed is an error: it would not start."""
    out: dict[str, dict[str, str]] = {}
    for name, service in sorted(services.items()):
        repo = repository(str(service.get("image", "")))
        if repo in digests:
            out[name] = {"image": f"{registry}/{repo}@{digests[repo]}"}
        elif repo.startswith("swarmfaas/"):
            raise ValueError(f"service {name}: image {repo} was not pushed to {registry}")
    return out


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True)
    parser.add_argument("--digests", required=True, type=Path)
    parser.add_argument("-c", "--compose-file", action="append", required=True, type=Path)
    args = parser.parse_args(argv)
    services: dict[str, Any] = {}
    for path in args.compose_file:
        for name, service in (yaml.safe_load(path.read_text()).get("services") or {}).items():
            services.setdefault(name, {}).update(service or {})
    try:
        pins = pinned(services, parse_digests(args.digests.read_text()), args.registry)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("# Made by scripts/cluster_images.py: images by registry and digest.")
    print(yaml.safe_dump({"version": "3.9", "services": pins}, sort_keys=True), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
