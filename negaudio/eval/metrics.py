"""Localisation metrics for VSSL with negative audio: functional, vectorised over [B, H, W] batches.

Per-batch functions return per-sample values (IoU, pIA, maxima, ...); aggregate functions take the
concatenated per-sample vectors. ``NegativeAudioEvaluator`` (the one scoring engine, used by
``negaudio eval``) streams batches, keeps only per-item values and aggregates them with those functions.
All rates are fractions in [0, 1] except ``pos_neg_f_scores`` (percent, as the reference).
Formulas, choices and the reference-code bugs we avoid: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from negaudio.eval import bootstrap as bs
from negaudio.eval import engine
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
    fixed,
    map_maxima,
    median,
    median_threshold,
)

__all__ = [
    "MISMATCHED",
    "NEGATIVE",
    "NOISY_POSITIVE",
    "POSITIVE",
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
    "posneg_summary",
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


def posneg_summary(pair_ious, pos_pias, other_pias) -> dict:
    """Pos–neg IoU of paired items, without rewarding emptiness (docs/metrics.md §3).

    Per pair i: s_i = mask_pair_iou(B_i, B̃_i) (1 when both are empty), p_i / q_i the pIA of the positive and of
    the other map. Returns ``posneg_iou`` = mean_{i: p_i > 0} s_i (None when every positive map is empty),
    ``posneg_pairs`` = #{i: p_i > 0}, ``posneg_excluded`` = #{i: p_i = 0}, ``both_empty`` = mean_i 1[p_i = 0 ∧
    q_i = 0] and ``posneg_iou_reference`` = mean_i s_i (the reference code's convention: both empty counts 1).
    """
    s = check_values(pair_ious, "pair_ious")
    p, q = check_values(pos_pias, "pos_pias"), check_values(other_pias, "other_pias")
    if not s.shape == p.shape == q.shape:
        raise ValueError(f"shape mismatch: pair_ious {s.shape}, pos_pias {p.shape}, other_pias {q.shape}")
    kept = p > 0
    return {
        "posneg_iou": float(s[kept].mean()) if kept.any() else None,
        "posneg_pairs": int(kept.sum()),
        "posneg_excluded": int((~kept).sum()),
        "both_empty": float(np.mean(~kept & (q == 0))),
        "posneg_iou_reference": float(s.mean()),
    }


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

POSITIVE = "positive"
NEGATIVE, MISMATCHED, NOISY_POSITIVE = "negative", "mismatched", "noisy_positive"
ROLES = (NEGATIVE, MISMATCHED, NOISY_POSITIVE)
"""Roles of non-positive item types: a negative; a negative that also counts in Hearing Impairment
(mismatched audio); a noisy positive (scored as a positive, with its own per-image θ)."""


def _as_roles(types) -> dict[str, str]:
    roles = dict(types) if isinstance(types, Mapping) else dict.fromkeys(types, NEGATIVE)
    if not isinstance(types, Mapping) and len(roles) != len(types):
        raise ValueError(f"item types must be unique, got {list(types)}")
    bad = {n: r for n, r in roles.items() if r not in ROLES}
    if bad or POSITIVE in roles:
        raise ValueError(f"item types: {POSITIVE!r} is reserved and roles must be one of {ROLES}, got {roles}")
    return roles


class NegativeAudioEvaluator:
    """Streams the negative-audio protocol: ``update`` scores one batch and keeps per-item values only,
    ``compute`` aggregates them with the functions above (torchmetrics' update/compute split).

    A sample is a positive map with its GT and, optionally, other items of the same image: one map per item
    type (``types``: names, or name -> role in ROLES). For each threshold θ, θ_i is resolved on the positive
    map of sample i and reused for its negatives; a noisy positive gets θ from its own map. Per item it keeps
    θ, IoU with the GT, pIA, the pos–neg IoU (non-positives) and the map maximum. See docs/metrics.md §8.
    """

    def __init__(self, thresholds: Sequence[Threshold], types=("silence", "noise", "offscreen")):
        labels = [t.label for t in thresholds]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"thresholds must be non-empty with unique labels, got {labels}")
        self.thresholds = tuple(thresholds)
        self.types = _as_roles(types)
        self.reset()

    def reset(self) -> None:
        """Forget every batch added so far."""
        self._blocks: list[tuple[str, dict]] = []
        self._samples = 0
        self._grouped: bool | None = None

    def update(
        self,
        pos,
        gt,
        others: Mapping[str, np.ndarray] | None = None,
        *,
        present: Mapping[str, Sequence[int]] | None = None,
        maxima: Mapping[str, Sequence[float]] | None = None,
        item_ids: Mapping[str, Sequence[str]] | None = None,
        sample_ids: Sequence[str] | None = None,
        groups: Sequence | None = None,
    ) -> None:
        """Add one batch of B samples.

        - ``pos``, ``gt``: positive maps and their GT, [B, H, W].
        - ``others[t]``: the maps of item type t, [B_t, H, W]; ``present[t]`` gives the B_t batch indices of the
          samples that have one (default: all B, in order). A batch may leave out types.
        - ``maxima[t]``: per-item maxima to keep instead of the maxima of the maps given (``"positive"``: [B]),
          e.g. of the raw maps before resizing.
        - ``item_ids[t]``, ``sample_ids`` [B]: labels copied to ``rows()``; ``groups`` [B]: one key per sample
          (IS3: one image); give them with every batch or with none. iIoU/IAUC are computed when a group
          holds more than one sample.

        Maps and GT may be torch tensors on one device (CPU or CUDA): they are then scored there by the torch
        engine (engine_torch.py) and only per-item values come back.
        """
        tensors = is_tensor(pos)
        if tensors:
            from negaudio.eval import engine_torch

            pos, gt = engine_torch.check_maps(pos, "positive maps"), engine_torch.check_gt(gt)
        else:
            pos, gt = check_maps(pos, "positive maps", finite=False), check_gt(gt)
        check_same_shape(pos, "positive maps", gt, "ground truth")
        b = pos.shape[0]
        others, present, maxima = dict(others or {}), dict(present or {}), dict(maxima or {})
        item_ids = dict(item_ids or {})
        unknown = set(others) - set(self.types)
        if unknown:
            raise ValueError(f"unknown item types {sorted(unknown)}; expected some of {sorted(self.types)}")
        for what, keys in (("present", present), ("maxima", maxima), ("item_ids", item_ids)):
            if set(keys) - {POSITIVE, *others} or (what == "present" and POSITIVE in keys):
                raise ValueError(f"{what} names types without maps: {sorted(set(keys) - set(others))}")
        if self._grouped is not None and self._grouped != (groups is not None):
            raise ValueError("give groups with every batch or with none")
        labels = {"sample_id": range(self._samples, self._samples + b) if sample_ids is None else sample_ids}
        labels["group"] = [None] * b if groups is None else groups
        labels = {k: _labels(v, b, k) for k, v in labels.items()}

        where = {}
        for name in list(others):
            if tensors:
                m = engine_torch.check_maps(others[name], f"{name} maps")
            else:
                m = check_maps(others[name], f"{name} maps", finite=False)
            w = np.arange(b) if name not in present else np.asarray(present[name])
            if w.ndim != 1 or w.shape[0] != m.shape[0] or (w.size and not np.issubdtype(w.dtype, np.integer)):
                raise ValueError(f"present[{name!r}] must hold one batch index per {name} map, got {w}")
            if w.size and (w.min() < 0 or w.max() >= b or np.unique(w).size != w.size):
                raise ValueError(f"present[{name!r}] must be distinct indices in [0, {b}), got {w.tolist()}")
            if m.shape[1:] != pos.shape[1:]:
                raise ValueError(f"shape mismatch: positive maps {pos.shape} vs {name} maps {m.shape}")
            if w.size:
                others[name], where[name] = m, w
            else:
                del others[name]

        if tensors:
            kinds, values = self._kinds()
            own = {n: self.types[n] == NOISY_POSITIVE for n in others}
            cols = engine_torch.score(pos, gt, {n: (m, where[n], own[n]) for n, m in others.items()}, kinds, values)
        else:
            cols = self._score(pos, gt, others, where)
        blocks = {POSITIVE: self._block(POSITIVE, cols, np.arange(b), maxima, item_ids, labels)}
        blocks |= {n: self._block(n, cols, where[n], maxima, item_ids, labels) for n in others}
        for name, values in cols.items():
            for key, v in values.items():
                if key == "max":
                    continue
                blocks[name] |= {f"{key}@{t.label}": v[:, k] for k, t in enumerate(self.thresholds)}
        self._blocks += blocks.items()  # state changes only once the whole batch is scored
        self._samples += b
        self._grouped = groups is not None

    def extend(self, other: NegativeAudioEvaluator) -> None:
        """Append the batches ``other`` was fed after this one's (same thresholds and types): scoring split into
        consecutive parts and joined in order keeps every value of one evaluator fed every batch."""
        if other.thresholds != self.thresholds or other.types != self.types:
            raise ValueError("can only extend an evaluator with one of the same thresholds and item types")
        if not other._samples:
            return
        if self._grouped is not None and self._grouped != other._grouped:
            raise ValueError("give groups with every batch or with none")
        self._blocks += [(name, cols | {"sample": cols["sample"] + self._samples}) for name, cols in other._blocks]
        self._samples += other._samples
        self._grouped = other._grouped

    def _kinds(self) -> tuple[list[str], list[float | None]]:
        """Per threshold: how the engine resolves it (median, adaptive, else a constant) and its value."""
        kinds = [t.kind if t.kind in ("median", "adaptive") else "fixed" for t in self.thresholds]
        return kinds, [t.value for t in self.thresholds]

    def _score(self, pos: np.ndarray, gt: np.ndarray, others: dict, where: dict) -> dict[str, dict[str, np.ndarray]]:
        """θ, IoU, pIA (and pos–neg IoU) of every item at every threshold: one histogram per map (engine.py)."""
        kinds, values = self._kinds()
        k, b = len(kinds), pos.shape[0]
        keys = {POSITIVE: ("theta", "iou", "pia")} | {n: ("theta", "iou", "pia", "posneg_iou") for n in others}
        sizes = {POSITIVE: b} | {n: w.size for n, w in where.items()}
        out = {n: {key: np.empty((sizes[n], k)) for key in keys[n]} | {"max": np.empty(sizes[n])} for n in keys}
        at = {n: {int(i): j for j, i in enumerate(w)} for n, w in where.items()}
        pos_f, gt_f = engine_maps(pos), flat(gt)
        other_f = {n: engine_maps(m) for n, m in others.items()}
        for i in range(b):
            p, g = pos_f[i], gt_f[i]
            ranges = [finite_range(p, pos, "positive maps")]
            out[POSITIVE]["max"][i] = ranges[0][1]
            size = int(np.count_nonzero(g))
            theta = engine.resolve(kinds, values, p, size)
            levels = engine.Levels(theta, p.dtype)
            items = []
            for name, maps in other_f.items():
                j = at[name].get(i)
                if j is None:
                    continue
                m = maps[j]
                ranges.append(finite_range(m, others[name], f"{name} maps"))
                out[name]["max"][j] = ranges[-1][1]
                if self.types[name] == NOISY_POSITIVE:
                    lv = engine.Levels(engine.resolve(kinds, values, m, size), m.dtype)
                elif m.dtype == p.dtype:
                    lv = levels
                else:
                    lv = engine.Levels(theta, m.dtype)
                items.append((name, j, m, lv))
            positive, rows = engine.sample_metrics(p, levels, [(m, lv) for _, _, m, lv in items], g, ranges)
            for (name, j, _, lv), stats in zip(items, rows, strict=True):
                out[name]["theta"][j] = lv.theta
                for key in ("iou", "pia", "posneg_iou"):
                    out[name][key][j] = stats[key]
            out[POSITIVE]["theta"][i] = theta
            out[POSITIVE]["iou"][i], out[POSITIVE]["pia"][i] = positive["iou"], positive["pia"]
        return out

    def _block(self, name: str, cols: dict, where: np.ndarray, maxima, item_ids, labels) -> dict:
        n = where.size
        if name in maxima:
            top = check_values(maxima[name], f"maxima[{name!r}]")
            if top.shape != (n,):
                raise ValueError(f"shape mismatch: maxima[{name!r}] {top.shape} vs {n} {name} maps")
        else:
            top = cols[name]["max"]
        ids = _labels(item_ids[name], n, f"item_ids[{name!r}]") if name in item_ids else [None] * n
        return {
            "sample": self._samples + where,
            "item_id": ids,
            "sample_id": [labels["sample_id"][i] for i in where],
            "group": [labels["group"][i] for i in where],
            "max": top,
        }

    def per_item(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-item values by type (``"positive"`` first, then ``types`` in order), each in update order.

        Columns: ``sample`` (index of the item's sample in update order), ``max``, and per threshold label θ
        ``theta@θ``, ``iou@θ`` (with the GT), ``pia@θ`` and, except for positives, ``posneg_iou@θ``.
        """
        out = {}
        for name in (POSITIVE, *self.types):
            blocks = [cols for n, cols in self._blocks if n == name]
            keys = [k for k in (blocks[0] if blocks else ()) if k not in ("item_id", "sample_id", "group")]
            out[name] = {k: np.concatenate([cols[k] for cols in blocks]) for k in keys}
        return out

    def rows(self) -> list[dict]:
        """One dict per item, in update order (per batch: positives, then each type given): ``item_id``,
        ``name``, ``sample_id``, ``group``, ``max`` and per threshold θ, IoU, pIA, pos–neg IoU (None for
        positives). Values are Python floats."""
        keys = [f"{k}@{t.label}" for t in self.thresholds for k in ("theta", "iou", "pia", "posneg_iou")]
        rows = []
        for name, cols in self._blocks:
            values = {k: cols[k].tolist() if k in cols else [None] * cols["sample"].size for k in ["max", *keys]}
            for j in range(cols["sample"].size):
                row = {"item_id": cols["item_id"][j], "name": name}
                row |= {"sample_id": cols["sample_id"][j], "group": cols["group"][j]}
                rows.append(row | {k: v[j] for k, v in values.items()})
        return rows

    def compute(self) -> dict:
        """Every aggregate, nested by section, item type and threshold label (rates as fractions).

        ``positive``: success, miou, auc (+ iiou, iauc with shared groups); ``negatives``: pia, auc_n,
        pia_success, the posneg_summary keys, gt_iou, gt_success; ``noisy_positives``: success, miou, auc and the
        posneg_summary keys;
        ``f_scores`` (percent, when there are negatives); ``hearing_impairment`` (mismatched types): HI,
        mean_s, HI_F, pairs; ``maxima``: maxima_stats per type; ``separability`` per negative type and ``all``.
        """
        if not self._samples:
            raise ValueError("no batch was added")
        v = self.per_item()
        empty = [n for n in self.types if not v[n]]
        if empty:
            raise ValueError(f"no item of type(s) {empty} was added")
        negatives = [n for n, r in self.types.items() if r != NOISY_POSITIVE]
        noisy = [n for n, r in self.types.items() if r == NOISY_POSITIVE]
        mismatched = [n for n, r in self.types.items() if r == MISMATCHED]
        groups = [g for n, cols in self._blocks if n == POSITIVE for g in cols["group"]]
        shared = self._grouped and len(set(groups)) < len(groups)
        out: dict = {"positive": {}, "negatives": {n: {} for n in negatives}}
        out |= {"noisy_positives": {n: {} for n in noisy}, "f_scores": {}, "hearing_impairment": {}}
        for thr in self.thresholds:
            label, at = thr.label, f"@{thr.label}"
            ious = v[POSITIVE][f"iou{at}"]
            pos = {"success": success_rate(ious), "miou": mean_iou(ious), "auc": iou_auc(ious)}
            if shared:
                pos |= {"iiou": interactive_iou(ious, groups), "iauc": interactive_auc(ious, groups)}
            out["positive"][label] = pos
            for n in negatives:
                pias, gt_ious = v[n][f"pia{at}"], v[n][f"iou{at}"]
                out["negatives"][n][label] = {
                    "pia": float(pias.mean()),
                    "auc_n": pia_auc(pias),
                    "pia_success": pia_success(pias),
                    **self._posneg(v, n, at),
                    "gt_iou": mean_iou(gt_ious),
                    "gt_success": success_rate(gt_ious),
                }
            for n in noisy:
                n_ious = v[n][f"iou{at}"]
                out["noisy_positives"][n][label] = {
                    "success": success_rate(n_ious),
                    "miou": mean_iou(n_ious),
                    "auc": iou_auc(n_ious),
                    **self._posneg(v, n, at),
                }
            negs = {n: out["negatives"][n][label] for n in negatives}
            if negs:
                pias, aocs = {n: x["pia"] for n, x in negs.items()}, {n: x["auc_n"] for n, x in negs.items()}
                out["f_scores"][label] = pos_neg_f_scores(pos["miou"], pos["auc"], pias, aocs)
            if mismatched:
                matched = np.concatenate([ious[v[n]["sample"]] for n in mismatched])
                heard = np.concatenate([v[n][f"iou{at}"] for n in mismatched])
                same = np.concatenate([v[n][f"posneg_iou{at}"] for n in mismatched])
                out["hearing_impairment"][label] = hearing_impairment(matched, heard, same) | {"pairs": matched.size}
        out["maxima"] = {n: maxima_stats(cols["max"]) for n, cols in v.items()}
        pos_max = v[POSITIVE]["max"]
        out["separability"] = {n: separability_auc(pos_max, v[n]["max"]) for n in negatives}
        if negatives:
            out["separability"]["all"] = separability_auc(pos_max, np.concatenate([v[n]["max"] for n in negatives]))
        return out

    def bootstrap(self, label: str, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
        """Percentile intervals of the headline metrics at threshold ``label`` (docs/metrics.md §8).

        Resamples units with replacement: the groups when ``groups`` were given (IS3: one image's samples),
        else the samples; an item goes with its sample, so pairs stay paired. Returns ``unit``, ``units`` and
        the intervals [lo, hi] (None when no resample defines the value), nested as in ``compute``:
        ``positive`` (success, miou, auc; iiou, iauc with shared groups), ``negatives`` (pia, auc_n,
        posneg_iou, both_empty), ``noisy_positives`` (success, miou), ``separability`` (per type and
        ``all``) and ``hearing_impairment`` (HI).
        """
        if label not in {t.label for t in self.thresholds}:
            raise ValueError(f"unknown threshold label {label!r}")
        if not self._samples:
            raise ValueError("no batch was added")
        v, at = self.per_item(), f"@{label}"
        groups = [g for n, cols in self._blocks if n == POSITIVE for g in cols["group"]]
        if self._grouped:
            _, unit_of = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
        else:
            unit_of = np.arange(self._samples)
        n_units = int(unit_of.max()) + 1
        shared = n_units < self._samples

        def weights(name: str):
            units = unit_of[v[name]["sample"]]
            return lambda w: w[:, units]

        stats: dict[str, bs.Statistic] = {}
        pos_w, ious = weights(POSITIVE), v[POSITIVE][f"iou{at}"]
        stats["positive/success"] = lambda w: bs.weighted_mean(pos_w(w), ious >= 0.5)
        stats["positive/miou"] = lambda w: bs.weighted_mean(pos_w(w), ious)
        stats["positive/auc"] = lambda w: bs.weighted_grid_auc(pos_w(w), ious)
        if shared:
            gmin = _group_min(ious, unit_of)  # one value per unit, in unit order
            stats["positive/iiou"] = lambda w: bs.weighted_mean(w, gmin >= 0.5)
            stats["positive/iauc"] = lambda w: bs.weighted_grid_auc(w, gmin)
        pos_pia, pos_max = v[POSITIVE][f"pia{at}"], v[POSITIVE]["max"]
        negatives = [n for n, r in self.types.items() if r != NOISY_POSITIVE]
        for n, role in self.types.items():
            w_n, cols = weights(n), v[n]
            pias, pairs = cols[f"pia{at}"], cols[f"posneg_iou{at}"]
            kept = pos_pia[cols["sample"]] > 0
            sec = f"negatives/{n}" if role != NOISY_POSITIVE else f"noisy_positives/{n}"
            if role == NOISY_POSITIVE:
                n_ious = cols[f"iou{at}"]
                stats[f"{sec}/success"] = lambda w, w_n=w_n, x=n_ious: bs.weighted_mean(w_n(w), x >= 0.5)
                stats[f"{sec}/miou"] = lambda w, w_n=w_n, x=n_ious: bs.weighted_mean(w_n(w), x)
                continue
            stats[f"{sec}/pia"] = lambda w, w_n=w_n, x=pias: bs.weighted_mean(w_n(w), x)
            stats[f"{sec}/auc_n"] = lambda w, w_n=w_n, x=pias: bs.weighted_grid_auc(w_n(w), x, at_most=True)
            stats[f"{sec}/posneg_iou"] = lambda w, w_n=w_n, x=pairs, k=kept: bs.weighted_mean(w_n(w) * k, x)
            empty = ~kept & (pias == 0)
            stats[f"{sec}/both_empty"] = lambda w, w_n=w_n, x=empty: bs.weighted_mean(w_n(w), x)
            stats[f"separability/{n}"] = bs.weighted_separability(
                pos_max, unit_of[v[POSITIVE]["sample"]], cols["max"], unit_of[cols["sample"]]
            )
        if negatives:
            neg_max = np.concatenate([v[n]["max"] for n in negatives])
            neg_units = np.concatenate([unit_of[v[n]["sample"]] for n in negatives])
            stats["separability/all"] = bs.weighted_separability(
                pos_max, unit_of[v[POSITIVE]["sample"]], neg_max, neg_units
            )
        mismatched = [n for n, r in self.types.items() if r == MISMATCHED]
        if mismatched:
            heard = np.concatenate([v[n][f"iou{at}"] for n in mismatched]) >= 0.5
            hi_units = np.concatenate([unit_of[v[n]["sample"]] for n in mismatched])
            stats["hearing_impairment/HI"] = lambda w: bs.weighted_mean(w[:, hi_units], heard)
        out: dict = {"unit": "group" if shared else "sample", "units": n_units}
        for key, ci in bs.bootstrap(stats, n_units, resamples, seed, level).items():
            *path, last = key.split("/")
            node = out
            for part in path:
                node = node.setdefault(part, {})
            node[last] = ci
        return out

    @staticmethod
    def _posneg(v: dict, name: str, at: str) -> dict:
        """posneg_summary of one type's items against their samples' positives (positives are samples 0..N-1)."""
        pos_pia = v[POSITIVE][f"pia{at}"][v[name]["sample"]]
        return posneg_summary(v[name][f"posneg_iou{at}"], pos_pia, v[name][f"pia{at}"])

    def pia_curves(self, grid) -> dict[str, dict[str, list[float]]]:
        """frac(pIA <= t) for t in ``grid``, per threshold label and negative type (the AUC-N integrand)."""
        v, grid = self.per_item(), np.asarray(grid, dtype=np.float64)
        negatives = [n for n, r in self.types.items() if r != NOISY_POSITIVE]
        return {
            t.label: {n: fraction_at_most(v[n][f"pia@{t.label}"], grid).tolist() for n in negatives}
            for t in self.thresholds
        }


def is_tensor(x) -> bool:
    """True for a torch tensor (torch is not imported to find out)."""
    return type(x).__module__ == "torch" and type(x).__name__ == "Tensor"


def finite_range(m: np.ndarray, maps: np.ndarray, name: str) -> tuple:
    """(min, max) of one flat map, in its dtype (0, 0 when empty); NaN/inf in it raise as ``check_maps`` does on
    its whole batch ``maps``."""
    if not m.size:
        return 0.0, 0.0
    lo, hi = m.min(), m.max()
    if m.dtype.kind == "f" and not (np.isfinite(hi) and np.isfinite(lo)):
        check_maps(maps, name)  # raises, naming the first bad batch index
    return lo, hi


def engine_maps(maps: np.ndarray) -> np.ndarray:
    """Checked maps [B, H, W] as [B, H·W] in a dtype the engine compares exactly (float32 kept, else float64)."""
    return flat(maps if maps.dtype in (np.float32, np.float64) else maps.astype(np.float64))


def _labels(values, n: int, name: str) -> list:
    values = list(values)
    if len(values) != n:
        raise ValueError(f"shape mismatch: {name} has {len(values)} values for {n} items")
    return values
