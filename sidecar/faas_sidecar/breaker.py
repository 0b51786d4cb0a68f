"""The connection-failure circuit breaker: which replicas to leave out of
rotation because connections to them fail, before Docker says so.

A node that loses power answers nothing: Docker marks it down only after its
heartbeats stop (10-14 s on the multi-node swarm, docs/multi-node.md), and
until then its tasks stay in the routing table. Each request the balancer
sends there meanwhile waits for a connect timeout (then is retried), or, on a
kept-alive connection, hangs until the function's timeout (a 504). The
sidecar's own connections notice first; this module decides what follows.

Plain state over plain data, no IO and no clock of its own (callers pass
``now``), so the rules are tested as tables (tests/sidecar/test_breaker.py).
The proxy feeds it (proxy.py ``_note_failure``) and probes (``Breakers.due``).

The rules:

- **What counts.** Only failures that are never a function's doing: a connect
  refused or timed out, a connection reset or closed before any byte of an
  answer. A slow or failing function answers (or times out after connecting);
  that never opens a breaker.
- **Threshold: ``OPEN_AFTER`` failures in a row** (no success between) take
  the replica out. 2, not 1: a single refusal or reset happens to a healthy
  replica (its watchdog closing an idle kept-alive connection as the sidecar
  sends, one lost SYN), and the request that met it is retried on another
  replica anyway. Two in a row is a replica whose address does not take
  connections. Not more: each failure costs a client up to CONNECT_TIMEOUT
  (2 s) before its retry, or a 504 on a kept-alive connection.
- **A silent replica.** A request on a kept-alive connection to a node that
  lost power sees no failure at all: it waits for its function's timeout.
  So when an exchange has had no byte back for ``SILENT_AFTER``, the proxy
  probes the replica (a fresh TCP connect); a probe that cannot connect
  either is ``unreachable``: out at once. A slow function's replica accepts
  the probe, and nothing follows (``probe_silence`` spaces such probes).
- **Back in rotation** when a probe (a plain TCP connect, by the proxy) opens
  a connection: first ``PROBE_FIRST`` after opening, then doubling up to
  ``PROBE_MAX`` while probes fail. Or when Docker reports the task again: the
  replica leaves the routing table, or another task holds its address
  (``retain``); its record is forgotten then.
- **A replica that says it is leaving.** A watchdog that drains answers new
  requests 503 marked X-Swarmfaas-Draining (it never ran them; the proxy
  sends the call elsewhere). Such a replica is out at once (``draining``),
  whatever ``enabled`` says (it is the replica's word, not a guess from
  failures), and no probe brings it back (it still takes connections while
  it drains), nor an answer from it (a call in flight there ending): only
  the routing table dropping it, or another task at its address (``retain``).
- **Never a refusal of its own.** A replica out is still a call's last
  resort: when every replica the call has not tried yet is out, none is
  skipped (``excluded``), and the proxy's own rules (retry, hold, 502)
  decide as they did without the breaker.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

Key = tuple[str, int]  # a replica's (address, port), as balancer.replica_key

OPEN_AFTER = 2  # connection failures in a row that take a replica out
PROBE_FIRST = 0.5  # seconds from opening to the first probe
PROBE_MAX = 5.0  # the longest wait between probes of a replica still out
# An exchange with no byte back for this long has its replica probed. Most
# answers start within milliseconds; a slow function costs one TCP connect
# to its replica per SILENT_AFTER at most.
SILENT_AFTER = 1.0


@dataclass(slots=True)
class Record:
    """One replica's failures: ``failures`` in a row, ``task`` the task id at
    its address then; ``probe_at`` (monotonic) is set while it is out."""

    task: str
    failures: int = 0
    probe_at: float | None = None
    wait: float = PROBE_FIRST
    probing: bool = False
    draining: bool = False  # it said so: out until the routing table drops it


class Breakers:
    """The breaker of every replica this sidecar has failed to reach."""

    def __init__(self, open_after: int = OPEN_AFTER, probe_first: float = PROBE_FIRST,
                 probe_max: float = PROBE_MAX, enabled: bool = True) -> None:
        self.enabled = enabled  # off (CIRCUIT_BREAKER=false): nothing ever opens
        self.open_after = open_after
        self.probe_first = probe_first
        self.probe_max = probe_max
        self.records: dict[Key, Record] = {}
        self.out: set[Key] = set()  # the replicas out of rotation now (read per call)
        self.silence_probed: dict[Key, float] = {}  # when a silence there was last probed

    def failed(self, key: Key, task: str, now: float) -> bool:
        """A connection to ``key`` failed; True when this takes it out."""
        if not self.enabled:
            return False
        record = self.records.get(key)
        if record is None or record.task != task:
            record = self.records[key] = Record(task)
        record.failures += 1
        if key in self.out or record.failures < self.open_after:
            return False
        self.out.add(key)
        record.wait = self.probe_first
        record.probe_at = now + record.wait
        return True

    def draining(self, key: Key, task: str) -> bool:
        """``key`` answered that it drains: out, never probed back; True if
        this takes it out."""
        record = self.records.get(key)
        if record is None or record.task != task:
            record = self.records[key] = Record(task)
        record.draining = True
        record.probe_at = None
        if key in self.out:
            return False
        self.out.add(key)
        return True

    def unreachable(self, key: Key, task: str, now: float) -> bool:
        """A request to ``key`` got no answer and a probe could not connect:
        two signs at once, so out without waiting for more; True if it opens."""
        opened = False
        for _ in range(self.open_after):
            opened = self.failed(key, task, now) or opened
        return opened

    def probe_silence(self, key: Key, now: float) -> bool:
        """Whether a silent exchange with ``key`` is worth a probe now: not when
        it is out already (its own probes run), nor within SILENT_AFTER of the
        last probe of a silence there."""
        last = self.silence_probed.get(key)
        if key in self.out or (last is not None and now - last < SILENT_AFTER):
            return False
        self.silence_probed[key] = now
        return True

    def succeeded(self, key: Key) -> None:
        """A connection to ``key`` opened, or an answer came: failures reset
        (a draining replica stays out)."""
        record = self.records.get(key)
        if record is not None and not record.draining:
            del self.records[key]
            self.out.discard(key)

    def due(self, now: float) -> list[Key]:
        """The replicas out whose probe is due now; each is marked probing
        until ``probed`` says how it went."""
        keys = []
        for key in self.out:
            record = self.records[key]
            if not record.probing and record.probe_at is not None and record.probe_at <= now:
                record.probing = True
                keys.append(key)
        return keys

    def probes_left(self) -> bool:
        """Whether a replica is out that a probe may bring back (not draining)."""
        return any(not self.records[k].draining for k in self.out)

    def next_probe(self) -> float | None:
        """When the next probe is due (monotonic), or None when none is out."""
        times = [r.probe_at for k in self.out if not (r := self.records[k]).probing
                 and r.probe_at is not None]
        return min(times, default=None)

    def probed(self, key: Key, ok: bool, now: float) -> bool:
        """A probe of ``key`` ended; True when it is back in rotation."""
        record = self.records.get(key)
        if record is None:
            return False  # forgotten meanwhile (left the table, or succeeded)
        record.probing = False
        if record.draining:
            return False
        if ok:
            self.succeeded(key)
            return True
        record.wait = min(record.wait * 2, self.probe_max)
        record.probe_at = now + record.wait
        return False

    def retain(self, tasks: Mapping[Key, str]) -> None:
        """A new routing table, ``tasks`` its replicas' task ids by address:
        forget replicas that left it or whose address another task holds now
        (Docker reports a task running there again)."""
        for key in [k for k, r in self.records.items() if tasks.get(k) != r.task]:
            del self.records[key]
            self.out.discard(key)
        for key in [k for k in self.silence_probed if k not in tasks]:
            del self.silence_probed[key]


def excluded(keys: Iterable[Key], out: set[Key], tried: Collection[Key] = ()) -> set[Key]:
    """The replicas among ``keys`` to leave out of a pick: those out, unless
    every one a call has not ``tried`` yet is out (then none: the replicas out
    are its last resort; the breaker never refuses a call itself)."""
    untried = {k for k in keys if k not in tried}
    left = {k for k in untried if k in out}
    return set() if len(left) == len(untried) else left
