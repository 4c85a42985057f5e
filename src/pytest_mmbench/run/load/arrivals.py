"""When open-loop requests are due: Poisson arrivals, or burstier gamma arrivals.

Inter-arrival times are gamma-distributed with shape ``burstiness`` and mean 1/rate
(vLLM's ``--burstiness``): shape 1 is a Poisson process, smaller is burstier, larger is
more regular.  Seeded, so a point's schedule is the same every run.
"""

from __future__ import annotations

import random


def arrival_offsets(rate: float, count: int, burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Seconds from the point's start at which each of ``count`` requests is due."""
    if rate <= 0 or burstiness <= 0:
        raise ValueError("rate and burstiness must be > 0")
    rng = random.Random(seed)
    scale = 1.0 / (rate * burstiness)
    offsets, t = [], 0.0
    for _ in range(count):
        t += rng.gammavariate(burstiness, scale)
        offsets.append(t)
    return offsets
