"""The one resizing rule from a prediction map to the ground-truth frame: bilinear, half-pixel centres.

Output pixel x (0-based) samples the input at s = (x + 0.5)·(n_in / n_out) − 0.5, clamped below at 0;
with i = ⌊s⌋ and f = s − i it takes (1 − f)·P[i] + f·P[min(i + 1, n_in − 1)]. This is
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``, applied to rows
and columns separately as two interpolation matrices. Computed in float64, returned as float32.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """R of shape [n_out, n_in] with (R @ v)[x] the half-pixel-centre linear interpolation of v at output x."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    frac = src - lo
    hi = np.minimum(lo + 1, n_in - 1)
    r = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(r, (rows, lo), 1.0 - frac)
    np.add.at(r, (rows, hi), frac)
    r.setflags(write=False)
    return r


def resize_bilinear(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a map [h, w] or a batch [B, h, w] to [.., height, width] with the rule above (float32)."""
    if np.shape(maps)[-2:] == (height, width):
        return np.asarray(maps, dtype=np.float32)  # float64 round trip of float32 values is the identity
    maps = np.asarray(maps, dtype=np.float64)
    h, w = maps.shape[-2:]
    if h != height:
        maps = interpolation_matrix(h, height) @ maps
    if w != width:
        maps = maps @ interpolation_matrix(w, width).T
    return maps.astype(np.float32)


@lru_cache(maxsize=64)
def _matrix_on(n_in: int, n_out: int, device: str):
    """:func:`interpolation_matrix` as a float64 tensor on ``device``."""
    import torch

    return torch.tensor(interpolation_matrix(n_in, n_out), device=device)


def resize_bilinear_torch(maps, height: int, width: int):
    """:func:`resize_bilinear` of a torch batch [B, h, w] on its own device (the same matrices, in float64)."""
    if tuple(maps.shape[-2:]) == (height, width):
        return maps.float()
    maps = maps.double()
    h, w = maps.shape[-2:]
    if h != height:
        maps = _matrix_on(h, height, str(maps.device)) @ maps
    if w != width:
        maps = maps @ _matrix_on(w, width, str(maps.device)).T
    return maps.float()
