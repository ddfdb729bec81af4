"""Silence: digital zeros, optionally with dither at a stated RMS level."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from negaudio.kinds.base import Negative, PlanContext, Signal, draw_seed
from negaudio.media.noise import silence


class Silence(Negative):
    """Digital zeros, optionally with dither at a stated RMS level."""

    kind: Literal["silence"]
    dither_dbfs: float | None = Field(None, le=-20, ge=-140)

    def default_name(self) -> str:
        return "silence" if self.dither_dbfs is None else f"silence-dither{self.dither_dbfs:g}"

    def params(self, sample, rng: np.random.Generator, plan: PlanContext) -> dict:
        return {"dither_dbfs": self.dither_dbfs, "noise_seed": draw_seed(rng), "heard_label": None}

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        channels, n = signal.shape
        dither, seed = params["dither_dbfs"], params["noise_seed"]
        rng = None if dither is None else np.random.default_rng(seed)
        return silence(channels, n, dither, rng), {}
