"""The one resizing rule (bilinear, half-pixel centres, no antialias) against a plain per-pixel loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from negaudio.eval.upsample import interpolation_matrix, resize_bilinear


def loop_resize(m: np.ndarray, height: int, width: int) -> np.ndarray:
    """Textbook bilinear sampling at s = (x + 0.5)·in/out − 0.5, clamped to the border, one pixel at a time."""
    h, w = m.shape
    out = np.zeros((height, width))
    for y in range(height):
        sy = max((y + 0.5) * h / height - 0.5, 0.0)
        y0 = math.floor(sy)
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for x in range(width):
            sx = max((x + 0.5) * w / width - 0.5, 0.0)
            x0 = math.floor(sx)
            x1, fx = min(x0 + 1, w - 1), sx - x0
            top = (1 - fx) * m[y0, x0] + fx * m[y0, x1]
            bottom = (1 - fx) * m[y1, x0] + fx * m[y1, x1]
            out[y, x] = (1 - fy) * top + fy * bottom
    return out


@pytest.mark.parametrize(
    ("h", "w", "height", "width"),
    [(7, 7, 224, 224), (7, 7, 240, 320), (14, 9, 31, 17), (1, 1, 5, 6), (1, 4, 3, 9), (40, 30, 7, 11), (6, 6, 6, 6)],
)
def test_matches_a_plain_loop(h, w, height, width):
    m = np.random.default_rng(h * 100 + w).random((h, w))
    np.testing.assert_allclose(resize_bilinear(m, height, width), loop_resize(m, height, width), rtol=0, atol=1e-6)


def test_batches_equal_single_maps_and_same_size_is_the_identity():
    maps = np.random.default_rng(0).random((3, 7, 5)).astype(np.float32)
    batch = resize_bilinear(maps, 20, 30)
    assert batch.shape == (3, 20, 30) and batch.dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(batch[i], resize_bilinear(maps[i], 20, 30))
    np.testing.assert_array_equal(resize_bilinear(maps, 7, 5), maps)
    np.testing.assert_array_equal(interpolation_matrix(9, 9), np.eye(9))


def test_rows_are_convex_weights():
    r = interpolation_matrix(7, 224)
    assert (r >= 0).all()
    np.testing.assert_allclose(r.sum(axis=1), 1.0)


def test_matches_torch_interpolate_when_available():
    torch = pytest.importorskip("torch")
    m = np.random.default_rng(1).random((2, 7, 7))
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(m)[:, None], size=(240, 320), mode="bilinear", align_corners=False, antialias=False
    )[:, 0].numpy()
    np.testing.assert_allclose(resize_bilinear(m, 240, 320), expected, rtol=0, atol=1e-6)
