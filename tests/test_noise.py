"""negaudio.media.noise: spectral slopes, exact levels, determinism and clip policies of the negative signals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from negaudio.media.audio import pcm_sha256_of_file, rms_dbfs, write_audio
from negaudio.media.noise import COLORS, apply_clip, colored_noise, gaussian_sigma_noise, silence


def _rms_per_channel(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(x.astype(np.float64)), axis=-1))


@pytest.mark.parametrize("color", sorted(COLORS))
def test_spectral_slope_matches_beta(color):
    x = colored_noise(np.random.default_rng(11), 4, 2**16, color)
    freqs, psd = welch(x, fs=16000, nperseg=2048, axis=-1)
    band = (freqs >= 100) & (freqs <= 4000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(psd.mean(axis=0)[band]), 1)[0]
    assert slope == pytest.approx(-COLORS[color], abs=0.15)


@pytest.mark.parametrize("color", sorted(COLORS))
@pytest.mark.parametrize("n", [2, 3, 1001, 48000])
def test_unit_rms_per_channel_and_zero_mean(color, n):
    x = colored_noise(np.random.default_rng(n), 3, n, color)
    assert x.dtype == np.float32 and x.shape == (3, n)
    np.testing.assert_allclose(_rms_per_channel(x), 1.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(x.astype(np.float64).mean(axis=-1), 0.0, atol=1e-5)  # DC bin zeroed


@pytest.mark.parametrize("color", sorted(COLORS))
def test_colored_noise_is_a_pure_function_of_the_generator(color):
    global_state = np.random.get_state()[1].copy()
    a = colored_noise(np.random.default_rng(5), 2, 4000, color)
    b = colored_noise(np.random.default_rng(5), 2, 4000, color)
    c = colored_noise(np.random.default_rng(6), 2, 4000, color)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # channels are independent draws
    assert np.array_equal(np.random.get_state()[1], global_state)  # the global RNG is never touched


def test_colored_noise_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown noise color"):
        colored_noise(rng, 1, 100, "grey")
    with pytest.raises(ValueError):
        colored_noise(rng, 1, 1, "pink")


def test_gaussian_sigma_noise():
    a = gaussian_sigma_noise(np.random.default_rng(1), 2, 20000, sigma=0.5)
    assert a.dtype == np.float32 and a.shape == (2, 20000)
    assert np.array_equal(a, gaussian_sigma_noise(np.random.default_rng(1), 2, 20000, sigma=0.5))
    np.testing.assert_allclose(_rms_per_channel(a), 0.5, rtol=0.03)
    unit = gaussian_sigma_noise(np.random.default_rng(1), 2, 20000)
    np.testing.assert_allclose(unit, 2 * a, rtol=1e-6)
    assert 0.28 < np.mean(np.abs(unit) > 1) < 0.36  # sigma = 1 exceeds full scale about 32% of the time


def test_silence_and_dither():
    z = silence(2, 100)
    assert z.dtype == np.float32 and z.shape == (2, 100) and not z.any()
    d = silence(2, 8000, dither_dbfs=-90.0, rng=np.random.default_rng(3))
    assert d.dtype == np.float32 and rms_dbfs(d) == pytest.approx(-90.0, abs=1e-4)
    assert np.array_equal(d, silence(2, 8000, dither_dbfs=-90.0, rng=np.random.default_rng(3)))
    # TPDF: triangular on [-h, h] with RMS h / sqrt(6)
    assert np.abs(d).max() <= 10 ** (-90 / 20) * np.sqrt(6) * 1.0001
    with pytest.raises(ValueError, match="Generator"):
        silence(1, 10, dither_dbfs=-90.0)


def test_apply_clip_policies():
    x = np.array([[0.5, 1.5, -2.0, 0.0]], dtype=np.float32)
    clipped, info = apply_clip(x, "clip")
    assert clipped.tolist() == [[0.5, 1.0, -1.0, 0.0]] and x[0, 1] == 1.5
    assert info == {"policy": "clip", "peak": 2.0, "clipped_fraction": 0.5, "gain": 1.0}
    same, info = apply_clip(x, "none")
    assert same is x and info["clipped_fraction"] == 0.5 and info["gain"] == 1.0
    scaled, info = apply_clip(x, "normalize")
    assert scaled.dtype == np.float32 and np.abs(scaled).max() == 1.0
    assert scaled.tolist() == [[0.25, 0.75, -1.0, 0.0]] and info["gain"] == 0.5 and info["clipped_fraction"] == 0
    quiet = 0.1 * x
    for policy in ("clip", "none", "normalize"):
        out, info = apply_clip(quiet, policy)
        assert out is quiet and info["gain"] == 1.0 and info["clipped_fraction"] == 0.0
    with pytest.raises(ValueError, match="clip policy"):
        apply_clip(x, "fold")


def test_negative_goes_through_the_output_path(tmp_path):
    rng = np.random.default_rng([7, 42])
    noise, info = apply_clip(gaussian_sigma_noise(rng, 1, 48000), "clip")
    assert 0.28 < info["clipped_fraction"] < 0.36
    pink, _ = apply_clip(0.1 * colored_noise(rng, 1, 48000, "pink"), "normalize")
    for name, x in (("noise", noise), ("pink", pink), ("silence", silence(1, 48000))):
        path = tmp_path / f"{name}.flac"
        meta = write_audio(path, x, 16000, "flac")
        assert meta["num_samples"] == 48000 and meta["pcm_sha256"] == pcm_sha256_of_file(path, "flac")
