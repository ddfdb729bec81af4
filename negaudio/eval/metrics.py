"""Localisation metrics for VSSL with negative audio: functional, vectorised over [B, H, W] batches.

Per-batch functions return per-sample values (IoU, pIA, maxima, ...); aggregate functions take the
concatenated per-sample vectors. ``NegativeAudioEvaluator`` streams batches and keeps only per-sample
values. All rates are fractions in [0, 1] except ``pos_neg_f_scores`` (percent, as the reference).
Formulas, choices and the reference-code bugs we avoid: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from negaudio.eval.metrics_avs import (
    avs_fmeasure,
    avs_fmeasure_curves,
    avs_jaccard,
    avss_per_frame,
    avss_scores,
)
from negaudio.eval.metrics_common import (
    AUC_GRID,
    check_gt,
    check_maps,
    check_masks,
    check_same_shape,
    check_values,
    count_true,
    flat,
    fraction_at_least,
    fraction_at_most,
    trapezoid,
)
from negaudio.eval.metrics_slavc import slavc_confidence, slavc_precision_recall, slavc_scores
from negaudio.eval.thresholds import (
    Threshold,
    UniversalThresholds,
    adaptive,
    adaptive_threshold,
    binarize,
    calibrate_universal,
    check_theta,
    exceeds,
    fixed,
    map_maxima,
    median,
    median_threshold,
)

__all__ = [
    "NegativeAudioEvaluator",
    "Threshold",
    "UniversalThresholds",
    "adaptive",
    "adaptive_threshold",
    "avs_fmeasure",
    "avs_fmeasure_curves",
    "avs_jaccard",
    "avss_per_frame",
    "avss_scores",
    "binarize",
    "calibrate_universal",
    "f_score",
    "fixed",
    "hearing_impairment",
    "interactive_auc",
    "interactive_iou",
    "iou",
    "iou_auc",
    "map_maxima",
    "mask_pair_iou",
    "maxima_stats",
    "mean_iou",
    "median",
    "median_threshold",
    "pia",
    "pia_auc",
    "pia_success",
    "pos_neg_f_scores",
    "separability_auc",
    "slavc_confidence",
    "slavc_precision_recall",
    "slavc_scores",
    "success_rate",
]


# ---------------------------------------------------------------- per-sample kernels (no input checks)


def _iou(masks: np.ndarray, gt: np.ndarray) -> np.ndarray:
    b, g = flat(masks), flat(gt)
    if g.dtype == bool:
        inter = count_true(b & g).astype(np.float64)
        denom = count_true(g) + count_true(b & ~g)
    else:
        inter = np.einsum("ij,ij->i", g, b, dtype=np.float64)
        denom = g.sum(axis=1, dtype=np.float64) + count_true(b & (g == 0))
    return np.divide(inter, denom, out=np.zeros(len(b)), where=denom > 0)


def _pia(masks: np.ndarray) -> np.ndarray:
    b = flat(masks)
    return count_true(b) / b.shape[1]


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = flat(a), flat(b)
    inter = count_true(a & b)
    union = count_true(a | b)
    return np.divide(inter, union, out=np.ones(len(a)), where=union > 0)


# ---------------------------------------------------------------- positives


def iou(masks, gt) -> np.ndarray:
    """Per-sample IoU_i = Σ(B·G) / (ΣG + Σ(B·[G==0])); 0 when the denominator is 0 (B and G empty).

    ``masks`` is boolean (see ``binarize``); ``gt`` is boolean or soft in [0, 1]. Boolean GT is faster.
    """
    masks, gt = check_masks(masks), check_gt(gt)
    check_same_shape(masks, "masks", gt, "ground truth")
    return _iou(masks, gt)


def mean_iou(ious) -> float:
    """mIoU = mean_i IoU_i."""
    return float(check_values(ious, "ious").mean())


def success_rate(ious, thr: float = 0.5) -> float:
    """mean_i 1[IoU_i >= thr]: the papers' "cIoU" (AP50) at thr = 0.5."""
    return float(np.mean(check_values(ious, "ious") >= thr))


def iou_auc(ious) -> float:
    """Trapezoidal area of y_k = mean_i 1[IoU_i >= 0.05k] over x_k = 0.05k, k = 0..20."""
    ious = check_values(ious, "ious")
    return trapezoid(fraction_at_least(ious, AUC_GRID), AUC_GRID)


def _group_min(ious, groups) -> np.ndarray:
    ious = check_values(ious, "ious")
    groups = np.asarray(groups)
    if groups.shape != ious.shape:
        raise ValueError(f"shape mismatch: groups {groups.shape} vs ious {ious.shape}")
    _, inverse = np.unique(groups, return_inverse=True)
    gmin = np.full(inverse.max() + 1, np.inf)
    np.minimum.at(gmin, inverse, ious)
    return gmin


def interactive_iou(ious, groups, thr: float = 0.5) -> float:
    """IS3 iIoU = mean over groups g of min_{j∈g} 1[IoU_j >= thr] (``groups``: one key per sample)."""
    return float(np.mean(_group_min(ious, groups) >= thr))


def interactive_auc(ious, groups) -> float:
    """IS3 IAUC: trapezoid over x_k = 0.05k of mean_g min_{j∈g} 1[IoU_j >= 0.05k]."""
    gmin = _group_min(ious, groups)
    return trapezoid(fraction_at_least(gmin, AUC_GRID), AUC_GRID)


# ---------------------------------------------------------------- negatives


def pia(masks) -> np.ndarray:
    """Per-sample pIA_i = Σ 1[P_i > θ_i] / N, from the boolean masks B_i = 1[P_i > θ_i]."""
    return _pia(check_masks(masks))


def pia_auc(pias) -> float:
    """AUC-N ("AOC"): trapezoid over x_k = 0.05k of y_k = mean_i 1[pIA_i <= 0.05k]. Higher is better."""
    pias = check_values(pias, "pias")
    return trapezoid(fraction_at_most(pias, AUC_GRID), AUC_GRID)


def pia_success(pias, thr: float = 0.5) -> float:
    """mean_i 1[pIA_i < thr] (strict)."""
    return float(np.mean(check_values(pias, "pias") < thr))


def mask_pair_iou(a, b) -> np.ndarray:
    """Per-sample |A∧B| / |A∨B| of two boolean masks; 1 when both are empty (0 when exactly one is)."""
    a, b = check_masks(a, "first masks"), check_masks(b, "second masks")
    check_same_shape(a, "first masks", b, "second masks")
    return _pair_iou(a, b)


# ---------------------------------------------------------------- combined scores


def f_score(x, y):
    """Harmonic mean F(x, y) = 2xy / (x + y), and 0 where x + y = 0 (unit-free: percent in, percent out)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    s = x + y
    out = np.divide(2 * x * y, s, out=np.zeros(np.broadcast(x, y).shape), where=s != 0)
    return float(out) if out.ndim == 0 else out


def pos_neg_f_scores(
    miou: float, auc: float, pia_by_type: Mapping[str, float], aoc_by_type: Mapping[str, float]
) -> dict[str, float]:
    """vssl_eval F-scores in percent from fractions (all at one θ, usually maxq3).

    F_Pos_Neg = F(100·mIoU, mean_t(100 − 100·pIA_t)); F_Pos_<t> = F(100·mIoU, 100 − 100·pIA_t);
    F_AUC_AOC_Pos_Neg = F(100·AUC, mean_t 100·AOC_t); F_AUC_AOC_<t> = F(100·AUC, 100·AOC_t).
    """
    if not pia_by_type or set(pia_by_type) != set(aoc_by_type):
        raise ValueError("pia_by_type and aoc_by_type must name the same, non-empty set of negative types")
    spec = {t: 100.0 - 100.0 * float(v) for t, v in pia_by_type.items()}
    aoc = {t: 100.0 * float(v) for t, v in aoc_by_type.items()}
    scores = {"F_Pos_Neg": f_score(100.0 * miou, float(np.mean(list(spec.values()))))}
    scores |= {f"F_Pos_{t}": f_score(100.0 * miou, v) for t, v in spec.items()}
    scores["F_AUC_AOC_Pos_Neg"] = f_score(100.0 * auc, float(np.mean(list(aoc.values()))))
    scores |= {f"F_AUC_AOC_{t}": f_score(100.0 * auc, v) for t, v in aoc.items()}
    return scores


def hearing_impairment(matched_ious, mismatched_ious, invariance) -> dict[str, float]:
    """Hearing Impairment on a mismatched set (docs/protocols.md#hearing-impairment). Lower HI is better.

    Per sample i: ``matched_ious`` = iou(B_i, G_i), ``mismatched_ious`` h_i = iou(B̃_i, G_i),
    ``invariance`` s_i = mask_pair_iou(B_i, B̃_i). HI = mean_i 1[h_i >= 0.5];
    HI_F = 2·mIoU·(1 − HI) / (mIoU + 1 − HI) (0 when the denominator is 0); mean_s = mean_i s_i.
    """
    m = check_values(matched_ious, "matched_ious")
    h = check_values(mismatched_ious, "mismatched_ious")
    s = check_values(invariance, "invariance")
    if not m.shape == h.shape == s.shape:
        raise ValueError(f"shape mismatch: matched {m.shape}, mismatched {h.shape}, invariance {s.shape}")
    hi = float(np.mean(h >= 0.5))
    return {"HI": hi, "mean_s": float(s.mean()), "HI_F": f_score(float(m.mean()), 1.0 - hi)}


# ---------------------------------------------------------------- max-value distributions


def maxima_stats(maxima) -> dict[str, float]:
    """mean, median, q1 (P25), q3 (P75), min, max of per-sample map maxima (linear percentiles)."""
    m = check_values(maxima, "maxima")
    q1, med, q3 = np.percentile(m, [25, 50, 75])
    return {
        "mean": float(m.mean()),
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(m.min()),
        "max": float(m.max()),
    }


def separability_auc(pos_maxima, neg_maxima) -> float:
    """ROC-AUC of positive vs negative maxima: (#{p > n} + 0.5·#{p = n}) / (n_pos·n_neg) (Mann–Whitney U)."""
    pos = check_values(pos_maxima, "pos_maxima")
    neg = np.sort(check_values(neg_maxima, "neg_maxima"))
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (pos.size * neg.size))


# ---------------------------------------------------------------- streaming protocol


class NegativeAudioEvaluator:
    """Streams the negative-audio protocol batch by batch, keeping only per-sample values.

    For each threshold θ, θ_i is resolved on the positive map of image i and reused for its negative
    maps. Per sample it stores IoU(pos), pIA and pos–neg IoU per negative type, and the map maxima.
    """

    def __init__(self, thresholds: Sequence[Threshold], neg_types: Sequence[str] = ("silence", "noise", "offscreen")):
        labels = [t.label for t in thresholds]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"thresholds must be non-empty with unique labels, got {labels}")
        if not neg_types or len(set(neg_types)) != len(neg_types):
            raise ValueError(f"neg_types must be non-empty and unique, got {list(neg_types)}")
        self.thresholds = tuple(thresholds)
        self.neg_types = tuple(neg_types)
        self._values: dict[str, list[np.ndarray]] = {}

    def _add(self, key: str, values: np.ndarray) -> None:
        self._values.setdefault(key, []).append(values)

    def update(self, pos, gt, negs: Mapping[str, np.ndarray]) -> None:
        """Add one batch: positive maps and GT [B, H, W], and one [B, H, W] map batch per negative type."""
        pos, gt = check_maps(pos, "positive maps"), check_gt(gt)
        check_same_shape(pos, "positive maps", gt, "ground truth")
        if set(negs) != set(self.neg_types):
            raise ValueError(f"negative types {sorted(negs)} differ from {sorted(self.neg_types)}")
        negs = {t: check_maps(negs[t], f"{t} maps") for t in self.neg_types}
        for t, m in negs.items():
            check_same_shape(pos, "positive maps", m, f"{t} maps")
        self._add("max/pos", flat(pos).max(axis=1).astype(np.float64))
        for t, m in negs.items():
            self._add(f"max/{t}", flat(m).max(axis=1).astype(np.float64))
        for thr in self.thresholds:
            theta = check_theta(thr.resolve(pos, gt), pos.shape[0])
            b_pos = exceeds(pos, theta)
            self._add(f"iou@{thr.label}", _iou(b_pos, gt))
            for t, m in negs.items():
                b_neg = exceeds(m, theta)
                self._add(f"pia/{t}@{thr.label}", _pia(b_neg))
                self._add(f"posneg_iou/{t}@{thr.label}", _pair_iou(b_pos, b_neg))

    def per_sample(self) -> dict[str, np.ndarray]:
        """Concatenated per-sample values by key (``iou@θ``, ``pia/t@θ``, ``posneg_iou/t@θ``, ``max/t``)."""
        if not self._values:
            raise ValueError("no batch was added")
        return {k: np.concatenate(v) for k, v in self._values.items()}

    def summary(self) -> dict[str, float]:
        """Aggregate metrics by key; F-scores in percent, everything else a fraction or a raw value."""
        v = self.per_sample()
        out: dict[str, float] = {}
        for thr in self.thresholds:
            at = f"@{thr.label}"
            ious = v[f"iou{at}"]
            out |= {
                f"miou{at}": mean_iou(ious),
                f"success{at}": success_rate(ious),
                f"auc{at}": iou_auc(ious),
            }
            pias = {t: v[f"pia/{t}{at}"] for t in self.neg_types}
            for t, p in pias.items():
                out[f"pia/{t}{at}"] = float(p.mean())
                out[f"auc_n/{t}{at}"] = pia_auc(p)
                out[f"pia_success/{t}{at}"] = pia_success(p)
                out[f"posneg_iou/{t}{at}"] = float(v[f"posneg_iou/{t}{at}"].mean())
            f = pos_neg_f_scores(
                out[f"miou{at}"],
                out[f"auc{at}"],
                {t: out[f"pia/{t}{at}"] for t in self.neg_types},
                {t: out[f"auc_n/{t}{at}"] for t in self.neg_types},
            )
            out |= {f"{k}{at}": x for k, x in f.items()}
        for t in ("pos", *self.neg_types):
            out |= {f"max/{t}/{k}": x for k, x in maxima_stats(v[f"max/{t}"]).items()}
        for t in self.neg_types:
            out[f"separability/{t}"] = separability_auc(v["max/pos"], v[f"max/{t}"])
        out["separability/all"] = separability_auc(
            v["max/pos"], np.concatenate([v[f"max/{t}"] for t in self.neg_types])
        )
        return out
