# swarmfaas: the two commands are `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python

.PHONY: help up down test unit e2e lint engine build bench bench-docs venv reliability misbehaving cluster cluster-down cluster-status cluster-up cluster-test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

up: ## bring the platform up on this machine and serve functions over HTTPS
	@bash scripts/up.sh

down: ## remove the deployed stack
	@bash scripts/down.sh

test: ## run every test: lint, unit, integration on a real swarm, end to end
	@bash scripts/test.sh

unit: venv ## run only the fast unit tests (no Docker needed)
	@.venv/bin/pytest -q -m "not docker and not e2e and not slow and not disruptive and not cluster" tests

lint: venv ## ruff over the whole tree
	@.venv/bin/ruff check .

engine: ## install/start Docker and make this node a swarm manager
	@bash scripts/engine.sh

build: engine ## build wheels and images
	@bash scripts/build.sh

reliability: ## hostile input, fuzzing and the secrets check against the stack make up deployed
	@bash scripts/reliability.sh

misbehaving: ## only the misbehaving-functions part of make reliability (hang, crash, floods, fork bomb...)
	@bash scripts/reliability.sh misbehaving

bench: ## run the benchmarks and write their figures into docs/benchmarks.md
	@bash scripts/bench.sh

bench-docs: venv ## rewrite docs/benchmarks.md's figures from bench/results/ without running
	@.venv/bin/python bench/render_docs.py

cluster: ## bring up a 5-node swarm of namespaced dockerds with a registry (docs/multi-node.md)
	@bash scripts/cluster.sh up

cluster-down: ## tear the multi-node swarm down (its namespaces, daemons and state)
	@bash scripts/cluster.sh down

cluster-status: ## the multi-node swarm's nodes
	@bash scripts/cluster.sh status

cluster-up: ## deploy stack.yml on the multi-node swarm (images through its registry)
	@bash scripts/cluster-deploy.sh

cluster-test: ## bring up the multi-node swarm, deploy, run tests/cluster, tear down
	@bash scripts/cluster-test.sh

venv:
	@bash -c 'source scripts/lib.sh && ensure_venv'
