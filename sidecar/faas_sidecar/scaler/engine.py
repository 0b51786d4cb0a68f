"""The scaler's Docker edge: discovery's listing, plus one write, the replica count.

Through the engine gate, with the scaler's token: the gate lets that token
list functions and their tasks and send one kind of update, the service's
own spec with only ``Mode.Replicated.Replicas`` changed (gate/policy.py,
``refuse_scale``). docker-py blocks: the scaler calls these from a thread.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import requests.exceptions

from ..engine import API_VERSION, Engine, EngineError


class ScalerEngine(Engine):
    def set_replicas(self, service: Mapping[str, Any], replicas: int) -> None:
        """Set a listed service's replica count; the rest of its spec is sent as it was.

        The version is the one listed: if anyone changed the service since,
        Docker refuses the update ("out of sequence") and the next round sees
        the change, so a human's write is never overwritten unseen."""
        spec = copy.deepcopy(service["Spec"])
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        url = f"{self._api.base_url}/v{API_VERSION}/services/{service['ID']}/update"
        try:
            response = self._api.post(url, params={"version": service["Version"]["Index"]},
                                      json=spec, timeout=self._timeout)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise EngineError(f"scaling {service['ID']}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise EngineError(f"scaling {service['ID']}: {response.status_code} "
                              f"{message[:300]}")
