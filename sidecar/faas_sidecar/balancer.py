"""Least-requests-in-flight balancing over the replicas of one snapshot."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from .model import Replica


def replica_key(replica: Replica) -> tuple[str, int]:
    return (replica.address, replica.port)


def pick(
    replicas: Sequence[Replica],
    in_flight: Mapping[tuple[str, int], int],
    exclude: Collection[tuple[str, int]] = (),
    start: int = 0,
) -> Replica | None:
    """The replica with the fewest requests in flight, not in ``exclude``.

    Ties go to the first candidate from position ``start`` (a rotating
    counter), so idle replicas share the load round-robin.
    """
    best: Replica | None = None
    best_load = 0
    count = len(replicas)
    for i in range(count):
        replica = replicas[(start + i) % count]
        key = replica_key(replica)
        if key in exclude:
            continue
        load = in_flight.get(key, 0)
        if best is None or load < best_load:
            best, best_load = replica, load
            if load == 0:
                break
    return best
