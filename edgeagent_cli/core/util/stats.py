"""Summaries of latency samples, computed one way everywhere."""

from __future__ import annotations

import statistics


def percentile(sorted_xs: list[float], p: float) -> float:
    """Linear interpolation between closest ranks, as numpy.percentile's default (vLLM's benchmarks use numpy)."""
    k = (len(sorted_xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (k - lo)


def percentiles(xs: list[float], points: tuple[int, ...] = (50, 90, 99)) -> dict[str, float]:
    """{"mean": ..., "p50": ..., ...}; zeros for no samples, so a report always has its keys."""
    if not xs:
        return {"mean": 0.0, **{f"p{p}": 0.0 for p in points}}
    s = sorted(xs)
    return {"mean": statistics.fmean(s), **{f"p{p}": percentile(s, p) for p in points}}
