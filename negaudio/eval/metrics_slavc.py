"""SLAVC extended-set metrics (Extended Flickr / VGG-SS): confidence, precision/recall, AP, max-F1."""

from __future__ import annotations

import numpy as np

from negaudio.eval.engine import top_sum
from negaudio.eval.metrics_common import check_maps, check_values, flat


def slavc_confidence(maps) -> np.ndarray:
    """c_i = mean of the top ⌈N/4⌉ values of map i (SLAVC ``np.sort(s)[-n//4:].mean()``), float64 [B], their
    sum found by selection (``engine.top_sum``), not by sorting. SLAVC computes it on maps scaled to [0, 1] as
    (cos + 1)/2; the function itself assumes no range."""
    return top_quarter_means(flat(check_maps(maps)))


def top_quarter_means(p: np.ndarray) -> np.ndarray:
    """:func:`slavc_confidence` of flat maps [B, N] already checked (finite)."""
    k = -(-p.shape[1] // 4)
    return np.array([top_sum(row, k) for row in p], dtype=np.float64) / k


def _check_inputs(ious, confidence, has_target):
    ious = check_values(ious, "ious")
    confidence = check_values(confidence, "confidence")
    has_target = np.asarray(has_target)
    if has_target.dtype != bool:
        raise TypeError(f"has_target must be boolean, got dtype {has_target.dtype}")
    if not ious.shape == confidence.shape == has_target.shape:
        raise ValueError(
            f"shape mismatch: ious {ious.shape}, confidence {confidence.shape}, has_target {has_target.shape}"
        )
    return ious, confidence, has_target


def slavc_precision_recall(ious, confidence, has_target, conf_thr, iou_thr: float = 0.5):
    """Precision and recall at each confidence threshold t in ``conf_thr`` (arrays shaped like it).

    A sample is detected when c_i >= t. Detected without a target: FP; detected with a target: TP if
    IoU_i >= iou_thr else FP; not detected with a target: FN. P = TP/(TP+FP), R = TP/(TP+FN), each 1
    when its denominator is 0.
    """
    ious, confidence, has_target = _check_inputs(ious, confidence, has_target)
    t = np.asarray(conf_thr, dtype=np.float64)

    def n_at_least(values):
        return values.size - np.searchsorted(np.sort(values), t, side="left")

    detected = n_at_least(confidence)
    tp = n_at_least(confidence[has_target & (ious >= iou_thr)])
    fn = np.count_nonzero(has_target) - n_at_least(confidence[has_target])
    precision = np.divide(tp, detected, out=np.ones(t.shape), where=detected > 0)
    recall = np.divide(tp, tp + fn, out=np.ones(t.shape), where=tp + fn > 0)
    return precision, recall


def slavc_scores(ious, confidence, has_target, iou_thr: float = 0.5) -> dict[str, float]:
    """AP, max-F1 and Precision (t = −1000, everything detected) as in SLAVC ``EvaluatorFull``.

    AP: t over the sorted confidences, descending, stride max(1, n//200), the largest excluded;
    p̂_i = max_{j>=i} p_j; AP = Σ_i p̂_i (r_{i+1} − r_i). max-F1: max of 2PR/(P+R) (0 when P+R=0)
    over t = every max(1, n//10)-th ascending sorted confidence.
    """
    ious, confidence, has_target = _check_inputs(ious, confidence, has_target)
    n = confidence.size
    ordered = np.sort(confidence)
    p, r = slavc_precision_recall(ious, confidence, has_target, ordered[:-1][:: -max(1, n // 200)], iou_thr)
    p_hat = np.maximum.accumulate(p[::-1])[::-1]
    ap = float(np.sum(p_hat[:-1] * np.diff(r)))
    p, r = slavc_precision_recall(ious, confidence, has_target, ordered[:: max(1, n // 10)], iou_thr)
    f1 = np.divide(2 * p * r, p + r, out=np.zeros(p.shape), where=p + r > 0)
    precision = slavc_precision_recall(ious, confidence, has_target, -1000.0, iou_thr)[0]
    return {"AP": ap, "max_F1": float(f1.max()), "Precision": float(precision)}
