"""The positive: the sample's own clip, through the recipe's duration policy (every other item matches it)."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from negaudio.kinds.base import POSITIVE, Drawn, ItemKind, PlanContext, Signal, item_seed


class Positive(ItemKind):
    """The image with the sound of one object in it. Not listed in recipes: every sample has one."""

    kind: Literal["positive"] = Field("positive", exclude=True)
    role: ClassVar = POSITIVE

    def draw(self, name: str, sample, plan: PlanContext) -> list[Drawn]:
        return [Drawn(name, {"heard_label": sample.label}, item_seed(plan.seed, sample.sample_id))]

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        return signal.positive, {}
