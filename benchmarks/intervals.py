"""Student-t 95 % intervals of a mean over seeds, shared by the benchmarks that report them."""

from __future__ import annotations

import statistics


def t_interval(vals: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t 95 % interval of the mean of ``vals`` (NaN bounds for fewer than 2)."""
    from scipy import stats

    m = statistics.fmean(vals)
    if len(vals) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(vals) - 1)) * statistics.stdev(vals) / len(vals) ** 0.5
    return m, m - half, m + half
