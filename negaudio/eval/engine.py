"""The one-pass metric engine: every threshold's IoU, pIA and pos–neg IoU of a sample from one histogram per map.

For a sample with K thresholds θ_1..θ_K (sorted: s_0 <= .. <= s_{K-1}; r_k the rank of θ_k), each pixel p of a
map gets its bucket b(p) = #{j: s_j < p} in 0..K, so that p > θ_k ⇔ b(p) > r_k (ties included). One ``bincount``
of the code (g, b_pos, b_other) over the pixels (g = 1[G > 0]) gives the joint histogram H[g, a, c]; its suffix
sums S[g, a, c] = Σ_{a' >= a, c' >= c} H hold, at every threshold at once, |B_pos|, |B_pos ∧ G|, |B_other|,
|B_other ∧ G| and |B_pos ∧ B_other|. Counts are integers, so IoU, pIA and pos–neg IoU equal the per-threshold
formulas of docs/metrics.md exactly (a soft GT adds one weighted ``bincount`` for Σ B·G). Per-image thresholds
(median, adaptive) are order statistics found by selection (``select``), not by sorting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLE = 2048
"""Pixels sampled (at a fixed stride) to bracket an order statistic before the exact count."""


def _band(values: np.ndarray, sample: np.ndarray, r: int) -> tuple[int, np.ndarray, float | None]:
    """(below, inside, hi): the values in [lo, hi], two sorted-sample values bracketing rank r, with ``below``
    values under lo (an end of the sample the bracket runs past is no bound: lo or hi None, hi returned)."""
    n, m = values.size, sample.size
    width = int(np.sqrt(m)) + 2  # 2 standard deviations of a median's sample rank: a miss (~5%) costs a partition
    at = int(r * (m - 1) / (n - 1))
    keep, below, hi = None, 0, None
    if at - width > 0:
        keep = values >= sample[at - width]
        below = n - int(np.count_nonzero(keep))
    if at + width < m - 1:
        hi = sample[at + width]
        upper = values <= hi
        keep = upper if keep is None else np.logical_and(keep, upper, out=keep)
    return below, values if keep is None else np.compress(keep, values), hi


def select(values: np.ndarray, ranks: Sequence[int]) -> np.ndarray:
    """``np.sort(values)[ranks]`` of a 1-D array, exactly, without sorting it (Floyd–Rivest style).

    A strided sample brackets each rank r by two sample values lo <= hi; one count of the values below lo and
    a partition of the few values in [lo, hi] give the r-th value. A bracket that misses (rare) falls back to
    ``np.partition`` of all values.
    """
    ranks = [int(r) for r in ranks]
    n = values.size
    if n <= 8 * SAMPLE:
        return np.partition(values, ranks)[ranks]
    sample = np.sort(values[:: n // SAMPLE])
    out = np.empty(len(ranks), dtype=values.dtype)
    for j, r in enumerate(ranks):
        below, inside, _ = _band(values, sample, r)
        if below <= r < below + inside.size:
            out[j] = np.partition(inside, r - below)[r - below]
        else:
            out[j] = np.partition(values, r)[r]
    return out


def top_sum(values: np.ndarray, k: int) -> float:
    """Σ of the k largest values of a 1-D array (1 <= k <= its size), in float64, without sorting it: the
    values above the bracket of rank N − k (see ``select``) and the top of the partitioned bracket."""
    n, r = values.size, values.size - k
    if n > 8 * SAMPLE:
        below, inside, hi = _band(values, np.sort(values[:: n // SAMPLE]), r)
        if below <= r < below + inside.size:
            top = np.partition(inside, r - below)[r - below :].sum(dtype=np.float64)
            return float(top if hi is None else top + (values * (values > hi)).sum(dtype=np.float64))
    return float(np.partition(values, r)[r:].sum(dtype=np.float64))


def thresholds_below(theta: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """θ in the maps' dtype such that P > θ' ⇔ P > θ for every P of that dtype (float32: θ rounded down)."""
    if dtype != np.float32:
        return theta.astype(np.float64)
    with np.errstate(over="ignore"):  # |θ| beyond float32 becomes ±inf: still exact
        t32 = theta.astype(np.float32)
    return np.where(t32 > theta, np.nextafter(t32, np.float32(-np.inf)), t32)


def buckets(values: np.ndarray, ordered: np.ndarray, lo=None, hi=None) -> np.ndarray:
    """b = #{j: ordered_j < value} per value (``ordered`` ascending, comparable exactly with ``values``). With
    the values' ``lo`` = min and ``hi`` = max, a level below every value or at or above every one costs no pass."""
    if ordered.size > 24:
        return np.searchsorted(ordered, values, side="left").astype(np.uint16)
    inside = ordered
    if lo is not None:
        inside = ordered[(ordered >= lo) & (ordered < hi)]
    out = np.full(values.shape, 0 if lo is None else np.count_nonzero(ordered < lo), dtype=np.uint8)
    hit = np.empty(values.shape, dtype=bool)
    for t in inside:
        np.greater(values, t, out=hit)
        out += hit.view(np.uint8)
    return out


def code_dtype(bins: int) -> type:
    """Smallest unsigned integer type holding codes 0..bins-1."""
    return np.uint8 if bins <= 256 else np.uint16 if bins <= 65536 else np.intp


class Levels:
    """A sample's thresholds θ [K] (float64) prepared for maps of ``dtype``: ascending comparable values and the
    rank r_k of each θ_k among them, so that P > θ_k ⇔ bucket(P) > r_k."""

    def __init__(self, theta: np.ndarray, dtype: np.dtype):
        order = np.argsort(theta, kind="stable")
        self.theta = theta
        self.rank = np.empty(theta.size, dtype=np.intp)
        self.rank[order] = np.arange(theta.size)
        self.ordered = thresholds_below(theta[order], dtype)

    def bins(self, values: np.ndarray, lo=None, hi=None) -> np.ndarray:
        return buckets(values, self.ordered, lo, hi)


def resolve(kinds: Sequence[str], values: Sequence[float | None], p: np.ndarray, gt_size: int) -> np.ndarray:
    """θ [K] float64 of one flattened map: a constant, the median sort(P)[⌊N/2⌋] or the adaptive
    sort(P)[N − |G|] (|G| = N//2 for an empty GT), the per-image ones by one ``select``."""
    n = p.size
    theta = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    wanted = {"median": n // 2, "adaptive": n - (gt_size or n // 2)}
    kinds_here = [k for k in dict.fromkeys(kinds) if k in wanted]
    if kinds_here:
        found = dict(zip(kinds_here, select(p, [wanted[k] for k in kinds_here]).astype(np.float64), strict=True))
        for j, k in enumerate(kinds):
            if k in found:
                theta[j] = found[k]
    return theta


MAX_BINS = 8192
"""Largest joint histogram of one ``bincount``: the positive and as many other maps as fit (3 at K <= 7)."""


def _suffix(h: np.ndarray) -> np.ndarray:
    """S[..., a, c] = Σ_{a' >= a, c' >= c} h[..., a', c']."""
    return h[..., ::-1, ::-1].cumsum(-2).cumsum(-1)[..., ::-1, ::-1]


def joint_counts(pos: np.ndarray, others: Sequence[np.ndarray], gt: np.ndarray, nb: int) -> list[tuple]:
    """Suffix-summed joint histograms of (g, b_pos, b_other) per other map, [2, nb, nb] each (one entry
    for the positive alone when there is no other map): counts, and Σ G over the g = 1 cells for a soft GT.

    The positive and several other maps share one ``bincount`` of the code
    b_pos + nb·b_1 + nb²·b_2 + .. + nb^(c+1)·g while the histogram has at most MAX_BINS bins.
    """
    soft = gt.dtype != bool
    g = gt > 0 if soft else gt
    per_call = 1
    while 2 * nb ** (per_call + 2) <= MAX_BINS:
        per_call += 1
    groups = [others[i : i + per_call] for i in range(0, len(others), per_call)] or [[]]
    out = []
    for group in groups:
        c = len(group)
        size = 2 * nb ** (c + 1)
        dtype = code_dtype(size)
        code = pos.astype(dtype)
        term = np.empty_like(code)
        for j, b in enumerate([*group, g.view(np.uint8)], start=1):
            np.multiply(b, dtype(nb**j), out=term, casting="unsafe")
            code += term
        shape = (2, *([nb] * c), nb)  # axes: g, other c .. other 1, positive
        hists = [np.bincount(code, minlength=size).reshape(shape)]
        if soft:
            hists.append(np.bincount(code, weights=gt.astype(np.float64), minlength=size).reshape(shape))
        for j in range(1, c + 1) if c else [None]:
            marg = []
            for h in hists:
                if j is None:
                    m = h[..., None]  # [2, nb(pos), 1]
                else:
                    axis = c + 1 - j  # the axis of other j
                    m = h.sum(axis=tuple(a for a in range(1, c + 1) if a != axis)) if c > 1 else h
                    m = m.swapaxes(1, 2)  # [2, nb(pos), nb(other)]
                marg.append(_suffix(m))
            out.append((marg[0], marg[1][1] if soft else marg[0][1]))
    return out


def sample_metrics(
    pos: np.ndarray,
    pos_levels: Levels,
    others: Sequence[tuple[np.ndarray, Levels]],
    gt: np.ndarray,
    ranges: Sequence[tuple] | None = None,
) -> tuple[dict, list[dict]]:
    """IoU with the GT and pIA at every threshold of a sample's positive map, and of each other map IoU, pIA
    and pos–neg IoU (1 when both masks are empty). Maps and GT are flat [N]; ``others`` holds (map, levels);
    ``ranges``, when known: (min, max) of the positive, then of each other map."""
    n, nb = pos.size, pos_levels.rank.size + 1
    gsum = float(gt.sum(dtype=np.float64)) if gt.dtype != bool else int(np.count_nonzero(gt))
    ranges = ranges or [(None, None)] * (1 + len(others))
    bins = [lv.bins(m, *r) for (m, lv), r in zip([(pos, pos_levels), *others], ranges, strict=True)]
    hists = joint_counts(bins[0], bins[1:], gt, nb)

    def iou(inter, outside):
        denom = gsum + outside
        return np.divide(np.asarray(inter, dtype=np.float64), denom, out=np.zeros(denom.shape), where=denom > 0)

    a = pos_levels.rank + 1
    s, sw = hists[0]
    pos_count = s[0, a, 0] + s[1, a, 0]
    positive = {"iou": iou(sw[a, 0], s[0, a, 0]), "pia": pos_count / n}
    rows = []
    for (_, levels), (s, sw) in zip(others, hists, strict=False):
        c = levels.rank + 1
        count = s[0, 0, c] + s[1, 0, c]
        inter = s[0, a, c] + s[1, a, c]
        union = pos_count + count - inter
        pair = np.divide(inter.astype(np.float64), union, out=np.ones(union.shape), where=union > 0)
        rows.append({"iou": iou(sw[0, c], s[0, 0, c]), "pia": count / n, "posneg_iou": pair})
    return positive, rows
