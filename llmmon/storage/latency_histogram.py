"""A fixed log-scale latency histogram: bucket edges, bucketing, and percentiles with a known error.

The roll-up tables keep one count per bucket (columns ``h00`` .. ``h91``), so latency
percentiles of any set of roll-up rows are the percentiles of the summed histogram.

Buckets: ``h00`` holds latencies below 0.1 ms, ``h01`` .. ``h90`` are geometric with ratio
``r = 2 ** (1/4)`` (bucket i covers ``[0.1 ms * r**(i-1), 0.1 ms * r**i)``, the last ending
at ~593 s), ``h91`` holds everything from ~593 s up.

Error bound: ``percentile()`` follows ``numpy.percentile``'s linear interpolation between the
two order statistics around the rank, but with each order statistic replaced by the geometric
midpoint of its bucket -- within a factor ``sqrt(r)`` of the true value. Interpolating two
such values keeps the factor, so for latencies in [0.1 ms, 593 s]::

    exact / sqrt(r) <= estimate <= exact * sqrt(r)     (sqrt(r) = 2 ** (1/8) ~ 1.0905)

i.e. a relative error of at most ``RELATIVE_ERROR`` (~9.05 %) against ``numpy.percentile``.
Latencies outside that range are reported as the range's edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["BUCKETS", "COLUMNS", "LOWEST_MS", "RATIO", "RELATIVE_ERROR", "bucket_index", "percentile"]

LOWEST_MS = 0.1
STEPS_PER_DOUBLING = 4
RATIO = 2 ** (1 / STEPS_PER_DOUBLING)
FINITE_BUCKETS = 90  # 0.1 ms * 2 ** 22.5 ~ 593 s
BUCKETS = FINITE_BUCKETS + 2  # plus the underflow and overflow buckets
COLUMNS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(BUCKETS))
RELATIVE_ERROR = math.sqrt(RATIO) - 1
_SCALE = STEPS_PER_DOUBLING / math.log(2)
_LOG_LOWEST = math.log(LOWEST_MS)


def bucket_index(latency_ms: float) -> int:
    """The histogram bucket of a latency (NaN and negatives count as the lowest bucket)."""
    if not latency_ms >= LOWEST_MS:  # also catches NaN
        return 0
    index = int((math.log(latency_ms) - _LOG_LOWEST) * _SCALE) + 1
    return index if index <= FINITE_BUCKETS else FINITE_BUCKETS + 1


def _representative(index: int) -> float:
    """The value reported for a bucket: its geometric midpoint (the edges for the open buckets)."""
    if index == 0:
        return LOWEST_MS
    if index > FINITE_BUCKETS:
        return float(LOWEST_MS * RATIO**FINITE_BUCKETS)
    return float(LOWEST_MS * RATIO ** (index - 0.5))


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of the values counted in ``counts`` (None when empty)."""
    total = sum(counts)
    if total <= 0:
        return None
    position = (total - 1) * q / 100.0
    low = math.floor(position)
    fraction = position - low
    low_value = _value_at_rank(counts, low)
    if fraction == 0.0 or low + 1 >= total:
        return low_value
    return low_value + fraction * (_value_at_rank(counts, low + 1) - low_value)


def _value_at_rank(counts: Sequence[int], rank: int) -> float:
    """The representative value of the 0-based ``rank``-th smallest counted value."""
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if rank < seen:
            return _representative(index)
    return _representative(len(counts) - 1)
