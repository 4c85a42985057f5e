"""How one load point is split between client processes, local or on other hosts.

A point is one experiment however many clients run it, so it is split, not repeated:

* closed loop: the concurrency is split (5 over 2 clients is 3 + 2, never 2 + 2), and
  each client gets requests in proportion to its slots, so all finish about together;
* open loop: one seeded arrival schedule for the whole point is drawn and dealt out
  round-robin, so the merged arrivals are exactly the single-process schedule.  A
  per-client schedule at rate/N would be a different experiment (N independent Poisson
  streams) that happens to have the same mean.  A ``max_concurrency`` cap is divided
  too (never more clients than it allows), so it holds per client: a request may wait
  for its own client's slot while another client has one free.

Every request keeps its index in the point, so the merged request log reads the same
as a single-process run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_mmbench.run.load.arrivals import arrival_offsets
from pytest_mmbench.spec.load_plan import LoadPoint


@dataclass(frozen=True)
class Share:
    """One client process's part of a point."""

    indexes: tuple[int, ...]  # the requests' indexes in the point, in sending order
    bodies: tuple[bytes, ...]
    slots: int  # closed loop: its concurrency; open loop: its cap on requests in flight
    due_s: tuple[float, ...] | None = None  # open loop: seconds after the common start
    duration_s: float | None = None  # stop issuing after this long (the point's own limit)

    def to_wire(self) -> dict[str, object]:
        """Plain types only: what an execnet channel can carry."""
        return {
            "indexes": list(self.indexes),
            "bodies": list(self.bodies),
            "slots": self.slots,
            "due_s": list(self.due_s) if self.due_s is not None else None,
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Share:
        due = data["due_s"]
        return cls(
            indexes=tuple(data["indexes"]),
            bodies=tuple(data["bodies"]),
            slots=int(data["slots"]),
            due_s=tuple(due) if due is not None else None,
            duration_s=data["duration_s"],
        )


def whole(point: LoadPoint, bodies: list[bytes]) -> Share:
    """The point run by one client."""
    return split(point, bodies, 1)[0]


def split(point: LoadPoint, bodies: list[bytes], clients: int) -> list[Share]:
    """At most ``clients`` shares; fewer where there are fewer requests or slots."""
    if point.rate is not None:
        return _open_shares(point, bodies, clients)
    return _closed_shares(point, bodies, clients)


def _closed_shares(point: LoadPoint, bodies: list[bytes], clients: int) -> list[Share]:
    concurrency = point.concurrency or len(bodies)
    n = max(1, min(clients, concurrency, len(bodies)))
    slots = _even(concurrency, n)
    counts = _proportional(len(bodies), slots)
    shares, start = [], 0
    for k in range(n):
        end = start + counts[k]
        shares.append(
            Share(
                indexes=tuple(range(start, end)),
                bodies=tuple(bodies[start:end]),
                slots=slots[k],
                duration_s=point.duration_s,
            )
        )
        start = end
    return shares


def _open_shares(point: LoadPoint, bodies: list[bytes], clients: int) -> list[Share]:
    assert point.rate is not None
    due = arrival_offsets(point.rate, len(bodies), point.burstiness, point.seed)
    n = max(1, min(clients, len(bodies), point.max_concurrency or len(bodies)))
    caps = _even(point.max_concurrency, n) if point.max_concurrency else None
    shares = []
    for k in range(n):
        mine = range(k, len(bodies), n)
        shares.append(
            Share(
                indexes=tuple(mine),
                bodies=tuple(bodies[i] for i in mine),
                slots=max(1, caps[k]) if caps else len(mine),
                due_s=tuple(due[i] for i in mine),
                duration_s=point.duration_s,
            )
        )
    return shares


def _even(total: int, n: int) -> list[int]:
    """``total`` split into ``n`` whole parts differing by at most one, largest first."""
    return [total // n + (1 if k < total % n else 0) for k in range(n)]


def _proportional(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders get the rest)."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda k: counts[k] - exact[k])
    for k in by_remainder[: total - sum(counts)]:
        counts[k] += 1
    return counts
