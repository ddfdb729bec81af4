"""AVSBench metrics: S4/MS3 Jaccard and F-measure on binary masks, AVSS per-class mIoU and F-score."""

from __future__ import annotations

import numpy as np

from negaudio.eval.metrics_common import check_maps, check_same_shape, count_true, flat

BETA2 = 0.3
FMEASURE_THRESHOLDS = np.linspace(0.0, 1.0 - 1e-10, 255)
_STEP = (FMEASURE_THRESHOLDS.size - 1) / FMEASURE_THRESHOLDS[-1]
_ABOVE = np.append(FMEASURE_THRESHOLDS, np.inf)  # _ABOVE[k]: the first threshold above bucket k
_BELOW = np.insert(FMEASURE_THRESHOLDS, 0, -np.inf)  # _BELOW[k]: the last threshold in bucket k


def _probabilities(pred, logits: bool) -> np.ndarray:
    pred = check_maps(pred).astype(np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * pred)) if logits else pred


def _binary_target(target) -> np.ndarray:
    target = np.asarray(target)
    if target.dtype != bool:
        target = check_maps(target, "target masks")
        if not np.isin(target, (0, 1)).all():
            raise ValueError("target masks must be binary (values 0/1 or boolean)")
    if target.ndim != 3:
        raise ValueError(f"target masks must have shape [B, H, W], got {target.shape}")
    return target.astype(bool)


def avs_jaccard(pred, target, logits: bool = False) -> np.ndarray:
    """Per-frame AVSBench Jaccard with p = 1[prob > 0.5] (prob = sigmoid(pred) when ``logits``), float64 [B].

    Non-empty target: |p∧t| / |p∨t|. Empty target: Σ(1−p)(1−t) / (H·W), the fraction of pixels
    correctly left empty. mIoU is the mean over all frames.
    """
    p, t = _probabilities(pred, logits) > 0.5, _binary_target(target)
    check_same_shape(p, "predictions", t, "target masks")
    p, t = flat(p), flat(t)
    empty = ~t.any(axis=1)
    inter = np.where(empty, count_true(~p & ~t), count_true(p & t))
    union = np.where(empty, p.shape[1], count_true(p | t))
    return inter / union


def avs_fmeasure_curves(pred, target, logits: bool = False) -> np.ndarray:
    """Per-frame F_β curve over the 255 thresholds linspace(0, 1 − 1e-10, 255), shape [B, 255].

    ŷ = 1[prob >= th]; prec = TP/(Σŷ + 1e-20); rec = TP/(Σy + 1e-20);
    F = (1 + β²)·prec·rec / (β²·prec + rec) with β² = 0.3, and 0 where TP = 0 (the reference's NaN → 0).
    Frames with an empty target are skipped by AVSBench: their row is NaN.
    """
    prob, t = _probabilities(pred, logits), _binary_target(target)
    check_same_shape(prob, "predictions", t, "target masks")
    prob, t = flat(prob), flat(t)
    n_pos = count_true(t)
    curves = np.full((len(prob), FMEASURE_THRESHOLDS.size), np.nan)
    rows = n_pos > 0
    curves[rows] = _fmeasure_rows(prob[rows], t[rows], n_pos[rows, None])
    return curves


def threshold_bins(prob: np.ndarray) -> np.ndarray:
    """k = #{θ_j <= p} per value (``np.searchsorted(FMEASURE_THRESHOLDS, prob, side="right")``): the bucket
    ⌊p·254/(1 − 1e-10)⌋ + 1 of the evenly spaced thresholds, moved one step where a comparison with the
    thresholds themselves says it is off (rounding at a boundary), so ties count as p >= θ exactly."""
    n_th = FMEASURE_THRESHOLDS.size
    k = np.clip(prob * _STEP, 0, n_th - 1).astype(np.intp) + 1  # truncation is floor on [0, n_th - 1]
    k += _ABOVE[k] <= prob
    k -= _BELOW[k] > prob
    return k


def _fmeasure_rows(prob: np.ndarray, t: np.ndarray, n_pos: np.ndarray) -> np.ndarray:
    n_th = FMEASURE_THRESHOLDS.size
    # bin k = #{thresholds <= prob}; the pixel counts as predicted for thresholds 0..k−1
    bins = threshold_bins(prob)
    bins += (n_th + 1) * np.arange(len(prob))[:, None]
    size = (n_th + 1) * len(prob)
    hist_pred = np.bincount(bins.ravel(), minlength=size).reshape(-1, n_th + 1)
    hist_tp = np.bincount(bins[t], minlength=size).reshape(-1, n_th + 1)
    n_pred = np.cumsum(hist_pred[:, ::-1], axis=1)[:, ::-1][:, 1:]
    tp = np.cumsum(hist_tp[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
    prec, rec = tp / (n_pred + 1e-20), tp / (n_pos + 1e-20)
    denom = BETA2 * prec + rec
    return np.divide((1 + BETA2) * prec * rec, denom, out=np.zeros(tp.shape), where=tp > 0)


def avs_fmeasure(curves) -> float:
    """max over thresholds of the F curve averaged over frames with a non-empty target (0 if none)."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] != FMEASURE_THRESHOLDS.size:
        raise ValueError(f"curves must have shape [B, {FMEASURE_THRESHOLDS.size}], got {curves.shape}")
    valid = curves[~np.isnan(curves).any(axis=1)]
    return float(valid.mean(axis=0).max()) if len(valid) else 0.0


def _check_labels(labels, name: str, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integer class ids of shape [B, H, W], got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes}), got [{labels.min()}, {labels.max()}]")
    return labels


def avss_per_frame(pred, target, n_classes: int):
    """Per-frame, per-class IoU, F_β (β² = 0.3) and presence for AVSS label maps; each [B, n_classes].

    With I, P, L the intersection, predicted and labelled areas of class c in frame b and U = P + L − I:
    IoU = I/U (0 when U = 0); F = (1 + β²)·I / (β²·L + P), i.e. (1 + β²)·prec·rec/(β²·prec + rec),
    and 0 when I = 0 (the reference's NaN → 0); present = U > 0.
    """
    pred = _check_labels(pred, "predicted labels", n_classes)
    target = _check_labels(target, "target labels", n_classes)
    check_same_shape(pred, "predicted labels", target, "target labels")
    p, t = flat(pred), flat(target)
    offset = n_classes * np.arange(len(p))[:, None]
    size = n_classes * len(p)

    def areas(ids):
        return np.bincount(ids, minlength=size).reshape(-1, n_classes).astype(np.float64)

    area_p, area_l, inter = (
        areas((p + offset).ravel()),
        areas((t + offset).ravel()),
        areas((t + offset)[p == t]),
    )
    union = area_p + area_l - inter
    ious = np.divide(inter, union, out=np.zeros(union.shape), where=union > 0)
    fscores = np.divide((1 + BETA2) * inter, BETA2 * area_l + area_p, out=np.zeros(union.shape), where=inter > 0)
    return ious, fscores, union > 0


def avss_scores(ious, fscores, present, exclude_class: int | None = None) -> dict[str, float]:
    """AVSS mIoU and F: per class c, Σ_frames value / #frames with U > 0 (NaN → 0), then mean over classes.

    Classes never present count as 0, as in AVSBench. ``exclude_class`` (e.g. the background index
    read from label2idx.json) is left out of the class mean.
    """
    per_class = avss_per_class(ious, fscores, present)
    keep = np.ones(per_class["frames"].size, dtype=bool)
    if exclude_class is not None:
        if not 0 <= exclude_class < keep.size:
            raise ValueError(f"exclude_class {exclude_class} outside [0, {keep.size})")
        keep[exclude_class] = False
    return {"miou": float(per_class["miou"][keep].mean()), "fscore": float(per_class["fscore"][keep].mean())}


def avss_per_class(ious, fscores, present) -> dict[str, np.ndarray]:
    """Per class c: ``frames`` = #frames with U > 0, ``miou``/``fscore`` = Σ_frames value / frames (0 when no
    frame), each [n_classes]: the class values ``avss_scores`` averages."""
    ious, fscores, present = (np.asarray(a) for a in (ious, fscores, present))
    if not ious.shape == fscores.shape == present.shape or ious.ndim != 2:
        raise ValueError(f"shape mismatch: ious {ious.shape}, fscores {fscores.shape}, present {present.shape}")
    count = np.count_nonzero(present, axis=0)

    def class_mean(values):
        return np.divide(values.sum(axis=0), count, out=np.zeros(count.shape), where=count > 0)

    return {"frames": count, "miou": class_mean(ious), "fscore": class_mean(fscores)}
