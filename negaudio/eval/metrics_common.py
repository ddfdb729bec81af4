"""Input checks and numeric helpers shared by the metric modules (numpy only)."""

from __future__ import annotations

import numpy as np

AUC_GRID = np.arange(21) * 0.05
"""x_k = 0.05·k, k = 0..20: the 21 abscissae of every AUC in this package."""


def check_maps(maps, name: str = "prediction maps", finite: bool = True) -> np.ndarray:
    """Return ``maps`` as a real [B, H, W] array; reject NaN/inf, naming the first bad batch index (``finite``:
    the caller checks values itself, map by map)."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"{name} must have shape [B, H, W], got {maps.shape}")
    if maps.dtype == bool or not np.issubdtype(maps.dtype, np.number) or np.iscomplexobj(maps):
        raise TypeError(f"{name} must be real numeric, got dtype {maps.dtype}")
    if finite and maps.size and np.issubdtype(maps.dtype, np.floating):
        bad = ~(np.isfinite(maps.max(axis=(1, 2))) & np.isfinite(maps.min(axis=(1, 2))))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "NaN" if np.isnan(maps[i]).any() else "inf"
            raise ValueError(f"{name} contain {what} at batch index {i}")
    return maps


def check_gt(gt, name: str = "ground truth") -> np.ndarray:
    """Return ``gt`` as a [B, H, W] array with values in [0, 1] (binary or soft, e.g. Flickr {0, 0.5, 1})."""
    gt = np.asarray(gt)
    if gt.dtype == bool:
        if gt.ndim != 3:
            raise ValueError(f"{name} must have shape [B, H, W], got {gt.shape}")
        return gt
    gt = check_maps(gt, name)
    if gt.size and (gt.min() < 0 or gt.max() > 1):
        raise ValueError(f"{name} values must lie in [0, 1], got [{gt.min()}, {gt.max()}]")
    return gt


def check_masks(masks, name: str = "masks") -> np.ndarray:
    """Return ``masks`` as a boolean [B, H, W] array (as produced by ``binarize``)."""
    masks = np.asarray(masks)
    if masks.dtype != bool:
        raise TypeError(f"{name} must be boolean (use binarize), got dtype {masks.dtype}")
    if masks.ndim != 3:
        raise ValueError(f"{name} must have shape [B, H, W], got {masks.shape}")
    return masks


def check_same_shape(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    """Raise a ValueError naming both arrays when their shapes differ."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a_name} {a.shape} vs {b_name} {b.shape}")


def check_values(values, name: str = "values") -> np.ndarray:
    """Return per-sample ``values`` as a non-empty finite 1-D float64 array."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contain NaN/inf at index {int(np.flatnonzero(~np.isfinite(values))[0])}")
    return values


def flat(a: np.ndarray) -> np.ndarray:
    """View [B, H, W] as [B, H·W]."""
    return a.reshape(a.shape[0], -1)


def count_true(masks: np.ndarray) -> np.ndarray:
    """Row counts of a boolean [B, N] array (popcount of 8-byte words when N % 8 == 0: ~4x count_nonzero)."""
    masks = np.ascontiguousarray(masks)
    if masks.shape[1] % 8 or not hasattr(np, "bitwise_count"):  # bitwise_count: numpy >= 2.0
        return np.count_nonzero(masks, axis=1)
    return np.bitwise_count(masks.view(np.uint64)).sum(axis=1, dtype=np.int64)


def trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoidal area Σ_k (x_{k+1} − x_k)(y_k + y_{k+1})/2 (as numpy.trapz / sklearn.metrics.auc)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def fraction_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """y_k = mean_i 1[values_i >= thresholds_k]."""
    ordered = np.sort(values)
    return (values.size - np.searchsorted(ordered, thresholds, side="left")) / values.size


def fraction_at_most(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """y_k = mean_i 1[values_i <= thresholds_k]."""
    return np.searchsorted(np.sort(values), thresholds, side="right") / values.size
