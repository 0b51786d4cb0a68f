"""Steady load on one function through nginx: the threads of SteadyLoad
(tests/sidecar/sidecar_swarm.py), sending to the echo function (a body comes
back as it went) over one client, keeping each request's start, end and
outcome, so a test can say which failed and when. Each request carries its
own X-Call-Id (nginx keeps a caller's), so nginx's access log says which
sidecar each request was written to (nginx_log.py)."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sidecar"))

from sidecar_swarm import SteadyLoad


@dataclass(frozen=True)
class Outcome:
    start: float  # time.monotonic()
    end: float
    result: str   # "ok", an HTTP status, or an exception's name
    detail: str
    call_id: str


class Load(SteadyLoad):
    def __init__(self, client: httpx.Client, path: str, threads: int = 8) -> None:
        super().__init__(str(client.base_url), path, threads)
        self.client = client  # httpx.Client is thread-safe; its pool holds a connection a thread
        self.timeline: list[Outcome] = []
        self.run = uuid.uuid4().hex[:12]  # call ids unique to this load
        self._timeline_lock = threading.Lock()

    def _run(self, index: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            body = f"{index}-{i}"
            call_id = f"load-{self.run}-{body}"
            start = time.monotonic()
            try:
                r = self.client.post(self.path, content=body.encode(),
                                     headers={"X-Call-Id": call_id})
                ok = r.status_code == 200 and r.text == body
                result, detail = ("ok", "") if ok else (str(r.status_code), r.text[:200])
            except httpx.HTTPError as exc:
                result, detail = type(exc).__name__, str(exc)[:200]
            with self._timeline_lock:
                self.timeline.append(Outcome(start, time.monotonic(), result, detail, call_id))

    def counts(self) -> Counter[str]:
        with self._timeline_lock:
            return Counter(o.result for o in self.timeline)

    def failed(self) -> list[Outcome]:
        with self._timeline_lock:
            return [o for o in self.timeline if o.result != "ok"]
