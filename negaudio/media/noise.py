"""Negative signals as pure functions of (parameters, numpy Generator): coloured noise, sigma noise, silence.

Every function returns float32 ``[channels, n]`` and draws only from the generator it is given.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}
"""colour -> beta, the exponent of the 1/f^beta power spectrum."""

CLIP_POLICIES = ("clip", "none", "normalize")


def _check_size(channels: int, n: int) -> None:
    if channels < 1 or n < 2:
        raise ValueError(f"need at least 1 channel and 2 samples, got {channels} x {n}")


@lru_cache(maxsize=32)
def _shaping(n: int, beta: float) -> np.ndarray:
    """float32 amplitude weights k^(-beta/2) of the rfft bins k = 0..n//2 (read-only, cached).

    DC is zeroed; for even n the Nyquist bin, whose imaginary part irfft drops, gets sqrt(2) so that its
    expected power matches the k^(-beta) law like every other bin.
    """
    k = np.arange(n // 2 + 1, dtype=np.float64)
    k[0] = 1.0
    weights = k ** (-beta / 2.0)
    weights[0] = 0.0
    if n % 2 == 0:
        weights[-1] *= np.sqrt(2.0)
    weights = weights.astype(np.float32)
    weights.flags.writeable = False
    return weights


def _unit_rms(y: np.ndarray) -> np.ndarray:
    """Scale each channel (row) of float32 ``y`` in place to an RMS of 1 measured in float64."""
    y *= (1.0 / np.sqrt(np.mean(np.square(y), axis=-1, keepdims=True, dtype=np.float64))).astype(np.float32)
    return y


def colored_noise(rng: np.random.Generator, channels: int, n: int, color: str) -> np.ndarray:
    """Gaussian noise with a 1/f^beta power spectrum, float32 ``[channels, n]``, RMS 1 per channel.

    Spectral shaping over the whole clip (Timmer-Koenig): the n//2 + 1 rfft coefficients of every channel
    are complex Gaussian (one ``rng.standard_normal((channels, n // 2 + 1, 2), dtype=float32)`` draw, read
    as real/imaginary pairs), bin k is scaled by k^(-beta/2) with the DC bin zeroed, irfft (float32) gives
    the signal, which is re-normalised by its measured RMS (exact to float32 rounding, ~1e-7).
    White (beta = 0) is drawn in the time domain instead (``rng.standard_normal((channels, n),
    dtype=float32)`` minus its mean), which has the same distribution. Same generator state -> same array.
    """
    try:
        beta = COLORS[color]
    except KeyError:
        raise ValueError(f"unknown noise color {color!r}; expected one of {sorted(COLORS)}") from None
    _check_size(channels, n)
    if beta == 0.0:
        y = rng.standard_normal((channels, n), dtype=np.float32)
        y -= y.mean(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
        return _unit_rms(y)
    pairs = rng.standard_normal((channels, n // 2 + 1, 2), dtype=np.float32)
    spectrum = pairs.view(np.complex64)[..., 0]
    spectrum *= _shaping(n, beta)
    return _unit_rms(np.fft.irfft(spectrum, n=n, axis=-1).astype(np.float32, copy=False))


def gaussian_sigma_noise(rng: np.random.Generator, channels: int, n: int, sigma: float = 1.0) -> np.ndarray:
    """The reference code's white N(0, sigma^2) noise (compatibility mode), float32 and not clipped.

    One ``rng.standard_normal((channels, n), dtype=float32)`` draw times ``sigma``. With sigma = 1 about
    32% of the samples exceed full scale: pair it with :func:`apply_clip`.
    """
    if channels < 1 or n < 1:
        raise ValueError(f"need at least 1 channel and 1 sample, got {channels} x {n}")
    x = rng.standard_normal((channels, n), dtype=np.float32)
    if sigma != 1.0:
        x *= np.float32(sigma)
    return x


def silence(
    channels: int, n: int, dither_dbfs: float | None = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Digital zeros, or TPDF dither at exactly ``dither_dbfs`` RMS (all channels pooled).

    TPDF dither is the sum of two independent uniform draws (``rng.uniform(-1, 1, (2, channels, n))``),
    re-normalised to the stated RMS level; it needs ``rng``. Note that PCM16 output rounds values below
    half an LSB (about -96.3 dBFS peak) to zero, so a quieter dither survives only in float32 output.
    """
    if dither_dbfs is None:
        return np.zeros((channels, n), dtype=np.float32)
    if rng is None:
        raise ValueError("dither needs a numpy Generator")
    _check_size(channels, n)
    u = rng.uniform(-1.0, 1.0, (2, channels, n))
    tpdf = u[0] + u[1]
    tpdf *= 10.0 ** (dither_dbfs / 20.0) / np.sqrt(np.mean(np.square(tpdf)))
    return tpdf.astype(np.float32)


def apply_clip(x: np.ndarray, policy: str) -> tuple[np.ndarray, dict]:
    """Apply a full-scale policy to ``x``; returns ``(x, info)`` for the manifest.

    ``info = {"policy", "peak" (before), "clipped_fraction", "gain"}``; ``clipped_fraction`` is the share of
    samples clipped (for "none": beyond full scale, which a PCM16 write will clip):
    * "clip": clip to [-1, 1] (x itself is returned when nothing exceeds full scale);
    * "none": leave x as is; PCM16 output still clips at write time, float32 output keeps the values;
    * "normalize": scale down so the peak is <= 1 (never up), recording the gain.
    """
    if policy not in CLIP_POLICIES:
        raise ValueError(f"unknown clip policy {policy!r}; expected one of {list(CLIP_POLICIES)}")
    peak = float(max(x.max(), -x.min())) if x.size else 0.0
    over = int(np.count_nonzero(np.abs(x) > 1.0)) if peak > 1.0 else 0
    info = {"policy": policy, "peak": peak, "clipped_fraction": over / x.size if x.size else 0.0, "gain": 1.0}
    if peak <= 1.0 or policy == "none":
        return x, info
    if policy == "clip":
        return np.clip(x, -1.0, 1.0), info
    info["clipped_fraction"] = 0.0
    info["gain"] = 1.0 / peak
    return (x / np.float32(peak)).astype(np.float32, copy=False), info
