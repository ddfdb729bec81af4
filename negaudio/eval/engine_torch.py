"""The one-pass metric engine (engine.py) in torch, on the device the maps are already on (CPU or CUDA).

Same rule, batched: per sample the K thresholds are sorted, every pixel gets its bucket b = #{j: s_j < p}, one
``bincount`` over the batch of the code (row, g, b_pos, b_other) gives every joint histogram, and suffix sums
give the counts at every threshold. Counts are integers and the divisions float64 true divisions (by a tensor on
the maps' device: CUDA divides by a host scalar through its reciprocal, one ulp off), so the values equal the
numpy engine's exactly. A soft GT adds weighted float64 sums taken in another order than numpy's: equal when the
sums are exact (GT values such as 0.5 and 1, as in the tests), else within rounding. Only the per-item values
[B, K] leave the device. Per-image thresholds (median, adaptive) come from one sort of the positive maps (fast on
a GPU).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch


def check_maps(maps, name: str = "prediction maps") -> torch.Tensor:
    """A real [B, H, W] tensor without NaN/inf (the first bad batch index named), as metrics_common.check_maps."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor like the positive maps, got {type(maps).__name__}")
    if maps.ndim != 3:
        raise ValueError(f"{name} must have shape [B, H, W], got {tuple(maps.shape)}")
    if maps.dtype == torch.bool or maps.is_complex():
        raise TypeError(f"{name} must be real numeric, got dtype {maps.dtype}")
    if maps.numel() and maps.is_floating_point():
        bad = ~torch.isfinite(maps).reshape(maps.shape[0], -1).all(dim=1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"{name} contain {'NaN' if bool(maps[i].isnan().any()) else 'inf'} at batch index {i}")
    return maps


def check_gt(gt, name: str = "ground truth") -> torch.Tensor:
    """A [B, H, W] tensor, boolean or with values in [0, 1]."""
    if isinstance(gt, torch.Tensor) and gt.dtype == torch.bool:
        if gt.ndim != 3:
            raise ValueError(f"{name} must have shape [B, H, W], got {tuple(gt.shape)}")
        return gt
    gt = check_maps(gt, name)
    if gt.numel() and (bool(gt.min() < 0) or bool(gt.max() > 1)):
        raise ValueError(f"{name} values must lie in [0, 1], got [{float(gt.min())}, {float(gt.max())}]")
    return gt


def _below(theta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """θ (float64) in the maps' dtype such that P > θ' ⇔ P > θ (float32: θ rounded down)."""
    if dtype == torch.float64:
        return theta
    t = theta.to(dtype)
    return torch.where(t.double() > theta, torch.nextafter(t, torch.full_like(t, -float("inf"))), t)


def resolve(kinds: Sequence[str], values: Sequence[float | None], maps: torch.Tensor, gt: torch.Tensor):
    """θ [B, K] float64 of flat maps [B, N]: constants, sort(P)[⌊N/2⌋], sort(P)[N − |G|] (|G| = N//2 if 0)."""
    b, n = maps.shape
    theta = torch.tensor([np.nan if v is None else v for v in values], dtype=torch.float64, device=maps.device)
    theta = theta.expand(b, -1).clone()
    if any(k in ("median", "adaptive") for k in kinds):
        ordered = maps.sort(dim=1).values
        size = (gt > 0).sum(dim=1)
        size = torch.where(size == 0, n // 2, size)
        for j, kind in enumerate(kinds):
            if kind == "median":
                theta[:, j] = ordered[:, n // 2].double()
            elif kind == "adaptive":
                theta[:, j] = ordered.gather(1, (n - size)[:, None])[:, 0].double()
    return theta


class Levels:
    """Per row: the thresholds sorted (comparable with the maps) and the rank of each θ_k among them."""

    def __init__(self, theta: torch.Tensor, dtype: torch.dtype):
        order = theta.argsort(dim=1, stable=True)
        self.theta = theta
        self.rank = torch.empty_like(order)
        self.rank.scatter_(1, order, torch.arange(theta.shape[1], device=theta.device).expand_as(order))
        self.ordered = _below(theta.gather(1, order), dtype)

    def bins(self, maps: torch.Tensor) -> torch.Tensor:
        """b [B, N] int64: how many of the row's thresholds lie below each pixel."""
        out = torch.zeros(maps.shape, dtype=torch.int64, device=maps.device)
        for j in range(self.ordered.shape[1]):
            out += maps > self.ordered[:, j : j + 1]
        return out


def _suffix(h: torch.Tensor) -> torch.Tensor:
    """S[..., a, c] = Σ_{a' >= a, c' >= c} h[..., a', c']."""
    return h.flip(-2, -1).cumsum(-2).cumsum(-1).flip(-2, -1)


def _hist(code: torch.Tensor, rows: int, nb: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Suffix-summed [rows, 2, nb, nb] histograms of codes already offset by row."""
    size = rows * 2 * nb * nb
    h = torch.bincount(code.flatten(), weights=None if weights is None else weights.flatten(), minlength=size)
    return _suffix(h.reshape(rows, 2, nb, nb))


def score(
    pos: torch.Tensor,
    gt: torch.Tensor,
    others: Mapping[str, tuple[torch.Tensor, torch.Tensor, bool]],
    kinds: Sequence[str],
    values: Sequence[float | None],
) -> dict[str, dict[str, np.ndarray]]:
    """Per-item ``theta``, ``iou``, ``pia``, ``posneg_iou`` (others) [n, K] and ``max`` [n] as numpy float64.

    ``pos`` [B, H, W] and ``gt`` [B, H, W] (bool or soft) on one device; ``others[name]`` = (maps [B_t, H, W],
    batch indices [B_t], own θ: True for a noisy positive, whose θ comes from its own map).
    """
    b = pos.shape[0]
    p = pos.reshape(b, -1)
    if p.dtype not in (torch.float32, torch.float64):
        p = p.double()
    n = p.shape[1]
    soft = gt.dtype != torch.bool
    g = gt.reshape(b, -1)
    flag = (g > 0).long() if soft else g.long()
    gsum = g.double().sum(dim=1)
    pixels = torch.full((), float(n), dtype=torch.float64, device=p.device)  # made on the device: no copy
    theta = resolve(kinds, values, p, g)
    levels = Levels(theta, p.dtype)
    nb = theta.shape[1] + 1
    b_pos = levels.bins(p)
    a = levels.rank + 1  # [B, K]

    def iou(inter, outside, rows_gsum):
        denom = rows_gsum[:, None] + outside
        return torch.where(denom > 0, inter.double() / torch.where(denom > 0, denom, 1), 0.0)

    def take(s, g_idx, ai, ci):
        """s [R, 2, nb, nb] at (row, g_idx, ai[r, k], ci[r, k]) -> [R, K]."""
        rows = torch.arange(s.shape[0], device=s.device)[:, None]
        return s[rows, g_idx, ai, ci]

    def counts(rows_idx, b_other, own_levels, with_pair: bool):
        r = rows_idx.numel()
        offset = (torch.arange(r, device=p.device) * (2 * nb * nb))[:, None]
        pos_code = b_pos[rows_idx] * nb + flag[rows_idx] * (nb * nb)
        code = pos_code + (b_other if b_other is not None else 0) + offset
        s = _hist(code, r, nb)
        sw = _hist(code, r, nb, g[rows_idx].double()) if soft else s
        ar = a[rows_idx]
        zero = torch.zeros_like(ar)
        pos_count = take(s, 0, ar, zero) + take(s, 1, ar, zero)
        pia = pos_count.double() / pixels
        pos_stats = {"iou": iou(take(sw, 1, ar, zero), take(s, 0, ar, zero), gsum[rows_idx]), "pia": pia}
        if not with_pair:
            return pos_stats
        c = own_levels.rank + 1
        count = take(s, 0, zero, c) + take(s, 1, zero, c)
        inter = take(s, 0, ar, c) + take(s, 1, ar, c)
        union = pos_count + count - inter
        pair = torch.where(union > 0, inter.double() / torch.where(union > 0, union, 1), 1.0)
        iou_o = iou(take(sw, 1, zero, c), take(s, 0, zero, c), gsum[rows_idx])
        return {"iou": iou_o, "pia": count.double() / pixels, "posneg_iou": pair}

    every = torch.arange(b, device=p.device)
    positive = counts(every, None, None, False)
    out = {"positive": {"theta": theta, **positive, "max": p.max(dim=1).values.double()}}
    for name, (maps, where, own) in others.items():
        m = maps.reshape(maps.shape[0], -1)
        if m.dtype not in (torch.float32, torch.float64):
            m = m.double()
        where = torch.as_tensor(where, dtype=torch.long, device=p.device)
        lv = Levels(resolve(kinds, values, m, g[where]), m.dtype) if own else Levels(theta[where], m.dtype)
        stats = counts(where, lv.bins(m), lv, True)
        out[name] = {"theta": lv.theta, **stats, "max": m.max(dim=1).values.double()}
    return {name: {k: v.double().cpu().numpy() for k, v in cols.items()} for name, cols in out.items()}
