"""The per-item values :class:`~negaudio.eval.benchmark_metrics.BenchmarkMetrics` collects, from torch maps on
their own device (CPU or CUDA): SLAVC's top-quarter means and AVSBench's Jaccard, F-measure curves and per-frame
class values, by the formulas of metrics_slavc.py and metrics_avs.py. Counts are integers and every division a
float64 division by a tensor on the maps' device (as in engine_torch.py), so the AVSBench values equal the numpy
ones; a top-quarter sum is taken in another order than numpy's (equal within rounding). Only the per-item values
come back, as numpy float64."""

from __future__ import annotations

import numpy as np
import torch

from negaudio.eval.metrics_avs import BETA2, FMEASURE_THRESHOLDS
from negaudio.eval.metrics_common import flat


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.double().cpu().numpy()


def top_quarter_means(p: torch.Tensor) -> np.ndarray:
    """Mean of the top ⌈N/4⌉ values of each flat map [B, N] (``metrics_slavc.top_quarter_means``)."""
    k = -(-p.shape[1] // 4)
    top = p.topk(k, dim=1, sorted=False).values.double().sum(dim=1)
    return _numpy(top / torch.full((), float(k), dtype=torch.float64, device=p.device))


def avs_jaccard(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """``metrics_avs.avs_jaccard`` of probability maps [B, H, W] and boolean targets."""
    p, t = flat(pred > 0.5), flat(target)
    empty = ~t.any(dim=1)
    inter = torch.where(empty, (~p & ~t).sum(dim=1), (p & t).sum(dim=1))
    union = torch.where(empty, p.shape[1], (p | t).sum(dim=1))
    return _numpy(inter.double() / union.double())


def avs_fmeasure_curves(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """``metrics_avs.avs_fmeasure_curves`` [B, 255] of probability maps and boolean targets (NaN rows: empty
    targets)."""
    prob, t = flat(pred).double(), flat(target)
    n_th = FMEASURE_THRESHOLDS.size
    n_pos = t.sum(dim=1)
    rows = n_pos > 0
    curves = torch.full((prob.shape[0], n_th), float("nan"), dtype=torch.float64, device=prob.device)
    prob, t, n_pos = prob[rows], t[rows], n_pos[rows, None]
    thresholds = torch.tensor(FMEASURE_THRESHOLDS, device=prob.device)
    bins = torch.searchsorted(thresholds, prob, right=True)  # #{θ_j <= p}
    bins += (n_th + 1) * torch.arange(prob.shape[0], device=prob.device)[:, None]
    size = (n_th + 1) * prob.shape[0]
    hist_pred = torch.bincount(bins.flatten(), minlength=size).reshape(-1, n_th + 1)
    hist_tp = torch.bincount(bins[t], minlength=size).reshape(-1, n_th + 1)
    n_pred = hist_pred.flip(1).cumsum(1).flip(1)[:, 1:]
    tp = hist_tp.flip(1).cumsum(1).flip(1)[:, 1:].double()
    prec, rec = tp / (n_pred.double() + 1e-20), tp / (n_pos.double() + 1e-20)  # float64, as numpy's
    denom = BETA2 * prec + rec
    curves[rows] = torch.where(tp > 0, (1 + BETA2) * prec * rec / torch.where(tp > 0, denom, 1.0), 0.0)
    return _numpy(curves)


def avss_per_frame(pred: torch.Tensor, target: torch.Tensor, n_classes: int):
    """``metrics_avs.avss_per_frame`` of integer or boolean label maps [B, H, W]: IoU, F_β and presence, each
    [B, n_classes] as numpy."""
    p, t = flat(pred).long(), flat(target).long()
    offset = n_classes * torch.arange(p.shape[0], device=p.device)[:, None]
    size = n_classes * p.shape[0]

    def areas(ids: torch.Tensor) -> torch.Tensor:
        return torch.bincount(ids, minlength=size).reshape(-1, n_classes).double()

    area_p, area_l, inter = areas((p + offset).flatten()), areas((t + offset).flatten()), areas((t + offset)[p == t])
    union = area_p + area_l - inter
    ious = torch.where(union > 0, inter / torch.where(union > 0, union, 1.0), 0.0)
    denom = BETA2 * area_l + area_p
    fscores = torch.where(inter > 0, (1 + BETA2) * inter / torch.where(inter > 0, denom, 1.0), 0.0)
    return _numpy(ious), _numpy(fscores), (union > 0).cpu().numpy()
