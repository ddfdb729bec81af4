"""Noise: coloured noise (1/f^beta by FFT shaping over the whole clip) at a stated level, and the levels."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from negaudio.core.model import Strict
from negaudio.kinds.base import Negative, PlanContext, Signal, draw_seed
from negaudio.media.audio import rms_dbfs, scale_to_rms_dbfs
from negaudio.media.noise import apply_clip, colored_noise, gaussian_sigma_noise

Color = Literal["white", "pink", "brown", "blue", "violet"]
ClipPolicy = Literal["clip", "none", "normalize"]


class RmsLevel(Strict):
    """Scale to an RMS level in dB relative to full scale."""

    rms_dbfs: float = Field(le=0, ge=-120)


class SnrLevel(Strict):
    """Scale relative to the paired positive: SNR in dB on whole-clip RMS."""

    snr_db: float = Field(ge=-40, le=80)


class SigmaLevel(Strict):
    """The reference code's N(0, sigma^2) white noise (compatibility with vssl_eval)."""

    sigma: float = Field(gt=0, le=10)


Level = RmsLevel | SnrLevel | SigmaLevel


class Noise(Negative):
    """Coloured noise (1/f^beta by FFT shaping over the whole clip) at a stated level."""

    kind: Literal["noise"]
    color: Color = "white"
    level: Level = SigmaLevel(sigma=1.0)
    clip: ClipPolicy = "clip"

    def default_name(self) -> str:
        level = self.level
        if isinstance(level, RmsLevel):
            tag = f"rms{level.rms_dbfs:g}"
        elif isinstance(level, SnrLevel):
            tag = f"snr{level.snr_db:g}"
        else:
            tag = f"sigma{level.sigma:g}"
        return f"noise-{self.color}-{tag}"

    def params(self, sample, rng: np.random.Generator, plan: PlanContext) -> dict:
        return {
            "color": self.color,
            "level": self.level.model_dump(),
            "clip": self.clip,
            "noise_seed": draw_seed(rng),
            "heard_label": None,
        }

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        rng = np.random.default_rng(params["noise_seed"])
        wave, facts = _at_level(rng, signal, params["color"], params["level"])
        wave, clip_facts = apply_clip(wave, params["clip"])
        return wave, {**facts, **clip_facts}


def _at_level(rng: np.random.Generator, signal: Signal, color: str, level: dict) -> tuple[np.ndarray, dict]:
    """Noise at a level: ``sigma`` (white: N(0, sigma^2) as the reference code), ``rms_dbfs`` or ``snr_db``."""
    channels, n = signal.shape
    if "sigma" in level:
        if color == "white":
            return gaussian_sigma_noise(rng, channels, n, level["sigma"]), {}
        return colored_noise(rng, channels, n, color) * np.float32(level["sigma"]), {}
    unit = colored_noise(rng, channels, n, color)
    if "rms_dbfs" in level:
        target = level["rms_dbfs"]
    else:
        ref = rms_dbfs(signal.positive)
        if not np.isfinite(ref):
            raise ValueError("SNR undefined: the positive clip is silent")
        target = ref - level["snr_db"]
    scaled, gain = scale_to_rms_dbfs(unit, target)
    return scaled, {"gain": float(gain)}
