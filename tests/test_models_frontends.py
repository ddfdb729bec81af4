"""Golden values of the zoo's front-ends: each one on a fixed waveform against its formula written out in plain
numpy (loops over frames, the window and the mel filters built by hand), and the same path for every item."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal.windows import tukey

from negaudio.eval.models import frontends as fe

SR = 16000


def fixed_wave(seconds: float) -> np.ndarray:
    """A chirp plus seeded noise: deterministic, broadband."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(1234)
    return 0.3 * np.sin(2 * np.pi * (200 + 900 * t) * t) + 0.05 * rng.standard_normal(t.size)


def psd_by_formula(x: np.ndarray, nperseg: int, noverlap: int) -> np.ndarray:
    """One-sided PSD density per frame: Tukey(0.25) periodic window, mean removed per frame,
    |rfft|^2 / (fs * sum(w^2)), every bin but DC and Nyquist doubled. [257, T]."""
    w = tukey(nperseg, 0.25, sym=False)
    step = nperseg - noverlap
    frames = []
    for start in range(0, x.size - nperseg + 1, step):
        seg = x[start : start + nperseg]
        p = np.abs(np.fft.rfft(w * (seg - seg.mean()))) ** 2 / (SR * np.sum(w**2))
        p[1:-1] *= 2
        frames.append(p)
    return np.array(frames).T


def test_ezvsl_log_spectrogram_matches_the_formula_and_crops_the_central_200_frames():
    x = fe.window_rolled(fixed_wave(10.0), 10.0)
    got = fe.LogSpectrogram(512, 274, 200)(x[None])
    full = psd_by_formula(x, 512, 274)
    assert full.shape == (257, 671) and got.shape == (1, 1, 257, 200)
    start = 236  # torchvision CenterCrop: round((671 - 200) / 2) = round(235.5) = 236
    np.testing.assert_allclose(got[0, 0], np.log(full[:, start : start + 200] + 1e-7) / 12, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("samples", [160000, 160001, 48000, 47999, 600])
def test_central_frames_equal_a_crop_of_the_whole_spectrogram_bit_for_bit(samples):
    from scipy.signal import spectrogram

    x = np.random.default_rng(samples).standard_normal((3, samples))
    spec = fe.LogSpectrogram(512, 274, 200)
    _, _, power = spectrogram(x, fs=SR, nperseg=512, noverlap=274, axis=-1)
    start = fe.centre_crop_start(power.shape[-1], 200) if power.shape[-1] > 200 else 0
    whole = (np.log(power[..., start : start + 200] + 1e-7) / 12)[:, None].astype(np.float32)
    np.testing.assert_array_equal(spec(x), whole)


def test_fnac_window_gives_exactly_200_frames_by_the_formula():
    x = fe.window_centred(fixed_wave(10.0), 3.0)
    np.testing.assert_array_equal(x, fixed_wave(10.0)[56000:104000])
    got = fe.LogSpectrogram(512, 274, 200)(x[None])
    np.testing.assert_allclose(got[0, 0], np.log(psd_by_formula(x, 512, 274) + 1e-7) / 12, rtol=1e-5, atol=1e-6)


def test_lvs_log_spectrogram_matches_the_formula():
    x = fe.window_lvs(fixed_wave(10.0))
    got = fe.LogSpectrogram(512, 353)(x[None])
    assert got.shape == (1, 1, 257, 299)
    np.testing.assert_allclose(got[0, 0], np.log(psd_by_formula(x, 512, 353) + 1e-7) / 12, rtol=1e-5, atol=1e-6)


def mel_db_by_formula(x: np.ndarray) -> np.ndarray:
    """torchaudio MelSpectrogram(16000, n_fft=512, hop_length=239, n_mels=257, normalized=True) then
    AmplitudeToDB(), written out: reflect padding of 256, periodic Hann, |STFT|^2 / sum(w^2), HTK triangles."""
    n_fft, hop = 512, 239
    xp = np.pad(x, 256, mode="reflect")
    w = np.array([0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft) for n in range(n_fft)])
    power = np.array(
        [np.abs(np.fft.rfft(w * xp[s : s + n_fft])) ** 2 / np.sum(w**2) for s in range(0, xp.size - n_fft + 1, hop)]
    ).T
    freqs = np.linspace(0, 8000, 257)
    mel_edges = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 259)
    hz = 700 * (10 ** (mel_edges / 2595) - 1)
    fb = np.zeros((257, 257))
    for m in range(257):
        lo, mid, hi = hz[m], hz[m + 1], hz[m + 2]
        for k, f in enumerate(freqs):
            fb[k, m] = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
    return 10 * np.log10(np.maximum(fb.T @ power, 1e-10))


def test_ssltie_mel_db_matches_the_formula():
    x = fe.window_ssltie(fixed_wave(4.0))  # tiled to 10 s
    assert x.size == 160000 and np.array_equal(x[64000:128000], fixed_wave(4.0))
    got = fe.MelDb()(x[None])
    assert got.shape == (1, 1, 257, 670)
    np.testing.assert_allclose(got[0, 0], mel_db_by_formula(x), rtol=1e-4, atol=1e-3)


def test_ssltie_mel_db_matches_torchaudio_when_installed():
    torch = pytest.importorskip("torch")
    ta = pytest.importorskip("torchaudio", reason="torchaudio is not installed: the formula test above stands in")
    x = fe.window_ssltie(fixed_wave(10.0))
    mel = ta.transforms.MelSpectrogram(sample_rate=SR, n_fft=512, hop_length=239, n_mels=257, normalized=True)
    ref = ta.transforms.AmplitudeToDB()(mel(torch.from_numpy(x).float()[None]))[0].numpy()
    np.testing.assert_allclose(fe.MelDb()(x[None])[0, 0], ref, rtol=1e-3, atol=1e-2)


def test_windows_follow_the_reference_loaders():
    clip = fixed_wave(2.5)
    rolled = fe.window_rolled(clip, 10.0)  # tiled to 10 s, then the clip midpoint (1.25 s) moved to 5 s
    np.testing.assert_array_equal(rolled, np.roll(np.tile(clip, 5)[:160000], 80000 - 20000))
    ten = fixed_wave(10.0)
    np.testing.assert_array_equal(fe.window_rolled(ten, 10.0), ten)  # a 10 s clip is already centred
    np.testing.assert_array_equal(fe.window_rolled(ten, 3.0), np.roll(ten[:48000], 24000 - 80000))
    np.testing.assert_array_equal(fe.window_centred(clip, 3.0), np.tile(clip, 2)[:48000])
    loud = 3 * ten
    np.testing.assert_array_equal(fe.window_lvs(loud), np.clip(loud[56000:104000], -1, 1))
    assert fe.window_lvs(np.zeros(0)).shape == (48000,)


def test_silence_goes_through_the_log_unless_marked_raw():
    spec = fe.LogSpectrogram(512, 274, 200)
    silence = np.zeros((2, 48000))
    np.testing.assert_allclose(spec(silence), np.log(1e-7) / 12, rtol=1e-6)
    raw = spec(silence, np.array([True, False]))
    assert (raw[0] == 0).all() and np.allclose(raw[1], np.log(1e-7) / 12)
    db = fe.MelDb()(np.zeros((1, 160000)))
    assert np.allclose(db, -100.0) and (fe.MelDb()(np.zeros((1, 160000)), np.array([True])) == 0).all()


def test_normalize_images_uses_imagenet_statistics():
    images = np.full((1, 3, 2, 2), 0.5, dtype=np.float32)
    got = fe.normalize_images(images)[0, :, 0, 0]
    np.testing.assert_allclose(
        got, (0.5 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]), rtol=1e-6
    )
