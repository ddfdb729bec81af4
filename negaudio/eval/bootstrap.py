"""Percentile bootstrap of the headline metrics from per-item values, vectorised over resamples.

A resample draws U units with replacement (a unit is a sample: a positive with its negatives; or an IS3 group,
all samples of one image), so paired quantities stay paired. Drawing units is the same as giving each unit a
count w_u ~ Multinomial(U, 1/U); every statistic is then a weighted version of its plain formula, with each item
weighted by the count of its unit. Formulas: docs/metrics.md §8.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from negaudio.core.errors import InputError
from negaudio.core.limits import is_count
from negaudio.eval.metrics_common import AUC_GRID

CHUNK = 128
"""Resamples computed at once (bounds memory: CHUNK × items floats per statistic)."""
MIN_RESAMPLES = 100
"""Fewest resamples an interval is reported from: with fewer, the 2.5th and 97.5th percentiles rest on one or two
values each (``--bootstrap 1`` would give an "interval" of one resampled value, which may not hold the estimate)."""


MIN_PAIRS = 10
"""Fewest pairs a pos–neg IoU (or its difference) gets an interval from: one pair resamples to itself, so its
"interval" has no width (and a difference's p would be 0)."""


def check_resamples(resamples: int) -> None:
    """An InputError unless ``resamples`` is 0 (no intervals) or at least MIN_RESAMPLES."""
    if not (is_count(resamples) and (resamples == 0 or resamples >= MIN_RESAMPLES)):
        raise InputError(f"--bootstrap must be 0 (no intervals) or >= {MIN_RESAMPLES}, got {resamples}")


Statistic = Callable[[np.ndarray], np.ndarray]
"""Maps the [r, U] unit counts of a chunk of resamples to r values of one statistic."""


def resample_counts(n_units: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """[resamples, n_units] float64 counts: how often each unit is drawn in each resample."""
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=resamples).astype(np.float64)


def weighted_mean(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ_i w_ri x_i / Σ_i w_ri per resample r (x: [n] or [n, k]); NaN where the weights sum to 0."""
    x = np.asarray(x, dtype=np.float64)
    total = w.sum(axis=1)
    if x.ndim == 2:
        total = total[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w @ x) / total, np.nan)


def weighted_grid_auc(w: np.ndarray, x: np.ndarray, at_most: bool = False) -> np.ndarray:
    """Trapezoid over AUC_GRID of the weighted fraction of x_i >= x_k (or <= x_k with ``at_most``)."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    hit = (x <= AUC_GRID) if at_most else (x >= AUC_GRID)
    y = weighted_mean(w, hit.astype(np.float64))
    return np.sum((AUC_GRID[1:] - AUC_GRID[:-1]) * (y[:, 1:] + y[:, :-1]) / 2, axis=1)


def weighted_separability(pos: np.ndarray, pos_units: np.ndarray, neg: np.ndarray, neg_units: np.ndarray) -> Statistic:
    """Weighted Mann–Whitney AUC of the positive values ``pos`` (item i of unit pos_units_i) against the negative
    values ``neg``: Σ_ij wp_i wn_j (1[p_i > n_j] + ½·1[p_i = n_j]) / (Σ wp · Σ wn), each item weighted by its
    unit's count. The negatives' order and each positive's place among them are found once, not per resample."""
    order = np.argsort(neg, kind="stable")
    neg_sorted = np.asarray(neg, dtype=np.float64)[order]
    neg_units = np.asarray(neg_units)[order]
    below = np.searchsorted(neg_sorted, pos, side="left")
    upto = np.searchsorted(neg_sorted, pos, side="right")

    def statistic(w: np.ndarray) -> np.ndarray:
        top = int(w.max(initial=0))  # whole counts: exact in integers, and int32 (when it holds w·2Σw) is faster
        counts = w.astype(np.int32 if 2 * top * top * max(len(neg_units), 1) < 2**31 else np.int64)
        wp, wn = counts[:, pos_units], counts[:, neg_units]
        cum = np.zeros((w.shape[0], wn.shape[1] + 1), dtype=counts.dtype)
        np.cumsum(wn, axis=1, out=cum[:, 1:])
        num = np.sum(wp * (cum[:, below] + cum[:, upto]), axis=1, dtype=np.int64) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / (wp.sum(axis=1, dtype=np.int64) * wn.sum(axis=1, dtype=np.int64))

    return statistic


def interval(stats: np.ndarray, level: float) -> list[float] | None:
    """The percentile interval [P_(1−level)/2, P_(1+level)/2] of the resampled statistics (NaNs left out)."""
    stats = stats[np.isfinite(stats)]
    if not stats.size:
        return None
    lo, hi = np.percentile(stats, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def bootstrap_values(
    statistics: dict[str, Statistic], n_units: int, resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """The [resamples] values of every statistic, all computed on the same resamples (seeded)."""
    if resamples < 1 or n_units < 1:
        raise ValueError(f"need at least one resample and one unit, got {resamples} and {n_units}")
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {k: [] for k in statistics}
    for start in range(0, resamples, CHUNK):
        w = resample_counts(n_units, min(CHUNK, resamples - start), rng)
        for key, stat in statistics.items():
            values[key].append(stat(w))
    return {k: np.concatenate(v) for k, v in values.items()}


def bootstrap(
    statistics: dict[str, Statistic], n_units: int, resamples: int, seed: int, level: float
) -> dict[str, list[float] | None]:
    """Percentile intervals of every statistic, all computed on the same resamples (seeded)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return {k: interval(v, level) for k, v in bootstrap_values(statistics, n_units, resamples, seed).items()}
