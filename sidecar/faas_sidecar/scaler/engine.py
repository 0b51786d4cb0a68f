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

from .. import listing
from ..engine import Engine
from ..engineclient import API_VERSION, EngineError, engine_calls


class ScalerEngine(Engine):
    SERVICES = listing.WHOLE  # set_replicas sends a listed spec back whole

    def set_replicas(self, service: Mapping[str, Any], replicas: int) -> None:
        """Set a listed service's replica count; the rest of its spec is sent as it was.

        The version is the one listed: if anyone changed the service since,
        Docker refuses the update ("out of sequence") and the next round sees
        the change, so a human's write is never overwritten unseen."""
        action = f"scaling {service['ID']}"
        spec = copy.deepcopy(service["Spec"])
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        url = f"{self._api.base_url}/v{API_VERSION}/services/{service['ID']}/update"
        with engine_calls(action):
            response = self._api.post(url, params={"version": service["Version"]["Index"]},
                                      json=spec, timeout=self._timeout)
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("message") or response.text)
            except ValueError:
                detail = response.text
            raise EngineError(f"{action}: {response.status_code} {detail[:300]}",
                              action=action, status=response.status_code, detail=detail)
