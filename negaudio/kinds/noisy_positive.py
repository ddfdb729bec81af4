"""Noisy positives: the positive mixed with coloured noise at each SNR of a grid (SSL-SaN uses 20, 10, 5 dB)."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from negaudio.kinds.base import NOISY_POSITIVE, Drawn, ItemKind, PlanContext, Signal, draw_seed, generator, item_seed
from negaudio.kinds.noise import ClipPolicy, Color
from negaudio.media.audio import mix_at_snr
from negaudio.media.noise import apply_clip, colored_noise


class NoisyPositive(ItemKind):
    """Extra positives mixed with noise at each SNR of a grid (the recipe's ``positive_noise``)."""

    kind: Literal["noisy_positive"] = Field("noisy_positive", exclude=True)
    role: ClassVar = NOISY_POSITIVE
    color: Color = "white"
    snr_db: list[float] = Field(default_factory=lambda: [20.0, 10.0, 5.0], min_length=1)
    clip: ClipPolicy = "clip"

    def default_name(self) -> str:
        return "positive"

    def item_names(self, name: str = "positive") -> list[str]:
        return [f"{name}-{self.color}-snr{snr:g}" for snr in self.snr_db]

    def draw(self, name: str, sample, plan: PlanContext) -> list[Drawn]:
        out = []
        for snr, item in zip(self.snr_db, self.item_names(name), strict=True):
            seed = item_seed(plan.seed, f"{sample.sample_id}/{item}")
            params = {
                "color": self.color,
                "snr_db": snr,
                "clip": self.clip,
                "noise_seed": draw_seed(generator(seed)),
                "heard_label": sample.label,
            }
            out.append(Drawn(item, params, seed))
        return out

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        channels, n = signal.shape
        noise = colored_noise(np.random.default_rng(params["noise_seed"]), channels, n, params["color"])
        wave, gain = mix_at_snr(signal.positive, noise, params["snr_db"])
        wave, clip_facts = apply_clip(wave, params["clip"])
        return wave, {"noise_gain": float(gain), **clip_facts}
