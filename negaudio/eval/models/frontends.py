"""The models' input paths in numpy/scipy: audio windows, spectrogram features, image normalisation.

Every function treats every waveform alike. The one exception is explicit: ``raw`` marks the items that
``--compat vssl_eval`` feeds without the log (or dB) step, as the reference code did for silence and noise
(docs/protocols.md, bug 2). Formulas and their sources: docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

SAMPLE_RATE = 16000
LOG_EPS = 1e-7
LOG_SCALE = 12.0
DB_AMIN = 1e-10
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]


def normalize_images(images: np.ndarray) -> np.ndarray:
    """ImageNet normalisation of [B, 3, H, W] RGB images in [0, 1] (all six models)."""
    return ((images - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def mono_mean(wave: np.ndarray) -> np.ndarray:
    """[C, N] -> [N]: mean of the channels clipped to [-1, 1] (EZ-VSL, SLAVC, FNAC)."""
    return np.clip(wave, -1.0, 1.0).mean(axis=0, dtype=np.float64)


def first_channel(wave: np.ndarray) -> np.ndarray:
    """[C, N] -> [N]: the first (left) channel (LVS, SSL-Align, SSL-TIE)."""
    return wave[0].astype(np.float64)


def tile_to(x: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` samples of ``x`` repeated as often as needed (silence when ``x`` is empty)."""
    if x.size == 0:
        return np.zeros(n)
    if x.size < n:
        x = np.tile(x, n // x.size + 1)
    return x[:n]


def window_rolled(x: np.ndarray, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """vssl_eval's ``load_spectrogram``: the first ``seconds`` (tiled when short), circularly shifted so the
    clip's midpoint sits at the middle of the window."""
    n = int(sr * seconds)
    shift = n // 2 - int(x.size / sr / 2 * sr)
    return np.roll(tile_to(x, n), shift)


def window_centred(x: np.ndarray, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """FNAC's (and EZ-VSL's original) loader: ``seconds`` from max(duration/2 - seconds/2, 0), tiled when short."""
    n = int(sr * seconds)
    start = max(int((x.size / sr / 2 - seconds / 2) * sr), 0)
    return tile_to(x[start : start + n], n)


def window_lvs(x: np.ndarray) -> np.ndarray:
    """LVS/SSL-Align: the first 10 s (tiled when short), samples 3.5 s to 6.5 s at 16 kHz, clipped to [-1, 1]."""
    return np.clip(tile_to(x, 10 * SAMPLE_RATE)[56000:104000], -1.0, 1.0)


def window_ssltie(x: np.ndarray) -> np.ndarray:
    """SSL-TIE: the first 10 s, tiled when short."""
    return tile_to(x, 10 * SAMPLE_RATE)


def centre_crop_start(total: int, size: int) -> int:
    """Left index of a centred crop as torchvision's CenterCrop computes it: round((total - size) / 2)."""
    return round((total - size) / 2.0)


@dataclass(frozen=True)
class LogSpectrogram:
    """log(PSD + 1e-7) / 12 of ``scipy.signal.spectrogram(x, 16000, nperseg, noverlap)`` (Tukey(0.25) window,
    constant detrend, one-sided density), the central ``frames`` frames when given. ``raw`` items skip the log.

    Frames are independent, so with ``frames`` only the samples those frames cover are transformed (the same
    values, bit for bit, as cropping the whole spectrogram)."""

    nperseg: int
    noverlap: int
    frames: int | None = None

    def central(self, mono: np.ndarray) -> np.ndarray:
        """The samples of the central ``frames`` frames of ``mono`` [B, N] (all of it when it has no more)."""
        hop = self.nperseg - self.noverlap
        total = 1 + (mono.shape[-1] - self.nperseg) // hop if mono.shape[-1] >= self.nperseg else 0
        if self.frames is None or total <= self.frames:
            return mono
        start = centre_crop_start(total, self.frames) * hop
        return mono[..., start : start + self.nperseg + (self.frames - 1) * hop]

    def __call__(self, mono: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """[B, N] float64 windows -> [B, 1, 257, T] float32."""
        from scipy.signal import spectrogram

        _, _, power = spectrogram(
            self.central(mono), fs=SAMPLE_RATE, nperseg=self.nperseg, noverlap=self.noverlap, axis=-1
        )
        feats = np.log(power + LOG_EPS)
        if raw is not None and raw.any():
            feats[raw] = power[raw]
        return (feats / LOG_SCALE)[:, None].astype(np.float32)


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@cache
def mel_filterbank(n_freqs: int, n_mels: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """[n_freqs, n_mels] triangular HTK filters over 0..sr/2, unnormalised (torchaudio's MelScale defaults).

    Bin frequencies are linspace(0, sr/2, n_freqs); filter edges are n_mels + 2 points equally spaced in mel.
    With 257 mels on 257 bins some low filters fall between bins and are all zero, as in the reference.
    """
    freqs = np.linspace(0, sr // 2, n_freqs)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr // 2), n_mels + 2))
    width = np.diff(edges)
    slopes = edges[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / width[:-1]
    up = slopes[:, 2:] / width[1:]
    return np.maximum(0.0, np.minimum(down, up))


@dataclass(frozen=True)
class MelDb:
    """SSL-TIE: 10 log10(max(mel power, 1e-10)) with a 512-point periodic Hann STFT, hop 239, reflect-padded
    by 256 (centred frames), power divided by sum(window^2) (``normalized=True``), 257 HTK mel bands.
    ``raw`` items skip the dB step."""

    n_fft: int = 512
    hop: int = 239
    n_mels: int = 257

    def __call__(self, mono: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """[B, N] float64 windows -> [B, 1, n_mels, 1 + N // hop] float32."""
        pad = self.n_fft // 2
        x = np.pad(mono, ((0, 0), (pad, pad)), mode="reflect")
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)
        count = 1 + (x.shape[1] - self.n_fft) // self.hop
        idx = np.arange(self.n_fft)[None, :] + self.hop * np.arange(count)[:, None]
        spec = np.fft.rfft(x[:, idx] * window, axis=-1)
        power = (spec.real**2 + spec.imag**2) / np.sum(window**2)
        mel = np.einsum("btf,fm->bmt", power, mel_filterbank(self.n_fft // 2 + 1, self.n_mels))
        feats = 10.0 * np.log10(np.maximum(mel, DB_AMIN))
        if raw is not None and raw.any():
            feats[raw] = mel[raw]
        return feats[:, None].astype(np.float32)
