"""Quantiles from histogram buckets and the significance tests of `ab report`.

Prometheus keeps latency as cumulative bucket counts, not raw samples, so:

* quantiles follow Prometheus' own ``histogram_quantile``: linear interpolation inside
  the bucket holding the rank, the largest finite bound when the rank falls in +Inf;
* error rates are compared with Fisher's exact test on the 2×2 table (errors, successes)
  × (stable, canary): exact at any sample size, so small canaries get honest p-values;
* latencies are compared with Pearson's chi-square test of homogeneity on the bucket
  counts (2 × k table). It asks "do the two versions spread over the buckets the same
  way?", which is what bucketed data can answer; rank tests such as Mann-Whitney
  need the raw samples Prometheus never stored. Adjacent buckets are merged until
  every expected count is at least 5 (Cochran's rule), so the chi-square
  approximation holds; the direction of a difference is read from the quantiles.

The tests come from scipy.stats; nothing here re-derives a distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_EXPECTED = 5.0


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The q-quantile (0..1) of a cumulative histogram; None when it holds no observation."""
    if not buckets or not 0 <= q <= 1:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank and count > below:
            if math.isinf(upper):
                return lower  # no upper edge to interpolate to: Prometheus answers the last bound
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = (upper if not math.isinf(upper) else lower), count
    return lower


def per_bucket(buckets: Sequence[tuple[float, float]]) -> list[float]:
    """Cumulative counts -> counts in each bucket (a negative step, from extrapolation, is 0)."""
    out, below = [], 0.0
    for _, count in buckets:
        out.append(max(0.0, count - below))
        below = max(below, count)
    return out


@dataclass(frozen=True)
class TestResult:
    test: str
    p_value: float | None  # None: too few samples to test
    statistic: float | None = None
    dof: int | None = None
    note: str = ""

    def significant(self, alpha: float) -> bool | None:
        return None if self.p_value is None else self.p_value < alpha

    def as_dict(self, alpha: float) -> dict[str, object]:
        return {
            "test": self.test,
            "p_value": self.p_value,
            "statistic": self.statistic,
            "dof": self.dof,
            "significant": self.significant(alpha),
            "note": self.note or None,
        }


def proportions(errors_a: float, n_a: float, errors_b: float, n_b: float) -> TestResult:
    """Fisher's exact test (two-sided) of two error rates; counts are rounded to whole requests."""
    from scipy.stats import fisher_exact

    name = "Fisher's exact test (two-sided) on errors vs successes"
    ea, na, eb, nb = (round(x) for x in (errors_a, n_a, errors_b, n_b))
    ea, eb = min(ea, na), min(eb, nb)
    if na <= 0 or nb <= 0:
        return TestResult(name, None, note="a version has no requests")
    result = fisher_exact([[ea, na - ea], [eb, nb - eb]])
    odds = float(result.statistic)
    return TestResult(name, float(result.pvalue), odds if math.isfinite(odds) else None)


def merge_sparse(rows: Sequence[Sequence[float]], min_expected: float = MIN_EXPECTED) -> list[list[float]]:
    """Merge adjacent columns of a 2-row table until every expected count is >= min_expected."""
    totals = [sum(r) for r in rows]
    grand = sum(totals)
    if grand <= 0 or min(totals) <= 0:
        return [[] for _ in rows]
    need = min_expected * grand / min(totals)  # a column total that gives every cell enough
    merged: list[list[float]] = [[] for _ in rows]
    acc = [0.0] * len(rows)
    for col in zip(*rows, strict=True):
        acc = [a + c for a, c in zip(acc, col, strict=True)]
        if sum(acc) >= need:
            for m, a in zip(merged, acc, strict=True):
                m.append(a)
            acc = [0.0] * len(rows)
    if sum(acc) > 0:  # a thin tail joins the last full column
        if merged[0]:
            for m, a in zip(merged, acc, strict=True):
                m[-1] += a
        else:
            for m, a in zip(merged, acc, strict=True):
                m.append(a)
    return merged


def latency(buckets_a: Sequence[tuple[float, float]], buckets_b: Sequence[tuple[float, float]]) -> TestResult:
    """Chi-square test of homogeneity on the two versions' bucket counts."""
    from scipy.stats import chi2_contingency

    name = "chi-square test of homogeneity on latency buckets"
    if [le for le, _ in buckets_a] != [le for le, _ in buckets_b]:
        return TestResult(name, None, note="the versions' histograms have different buckets")
    rows = [[float(round(c)) for c in per_bucket(b)] for b in (buckets_a, buckets_b)]
    table = merge_sparse(rows)
    if len(table[0]) < 2:
        return TestResult(
            name,
            None,
            note="nearly every request is in one latency bucket: too few "
            f"elsewhere to compare (the test needs {MIN_EXPECTED:g} expected per cell)",
        )
    result = chi2_contingency(table, correction=False)
    return TestResult(
        name,
        float(result.pvalue),
        float(result.statistic),
        int(result.dof),
        note=f"{len(table[0])} bucket groups after merging sparse buckets",
    )
