"""Mismatched ("Un-X" sets): the image paired with audio of other classes of the same dataset."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from negaudio.core.errors import SampleError
from negaudio.kinds.base import Drawn, PlanContext, generator, item_seed
from negaudio.kinds.clips import (
    GroupedDraw,
    Offset,
    PoolClip,
    clip_params,
    excluded_draw,
    group_params,
    same_pool,
)


class Mismatched(PoolClip, GroupedDraw):
    """The "Un-X" sets: the image paired with audio of another class of the same dataset."""

    kind: Literal["mismatched"]
    count: int = Field(1, ge=1, le=16)
    offset: Offset = "start"

    def item_names(self, name: str) -> list[str]:
        """One item per drawn clip: ``name``, or ``name-1`` ... ``name-<count>``."""
        return [name] if self.count == 1 else [f"{name}-{k}" for k in range(1, self.count + 1)]

    def draw(self, name: str, sample, plan: PlanContext) -> list[Drawn]:
        """``count`` clips of distinct classes, none visible nor the sample's own, from one generator."""
        seed = item_seed(plan.seed, f"{sample.sample_id}/{name}")
        rng = generator(seed)
        pool = plan.memo("same-pool", lambda: same_pool(plan.samples))
        try:
            exclude = set(sample.image_classes) | {sample.label}
            draws, changed = excluded_draw(pool, rng, exclude, self.count, self.exclude_groups, plan)
        except ValueError as exc:
            raise SampleError(sample.sample_id, str(exc)) from None
        return [
            Drawn(
                item,
                clip_params("same", clip_id, audio, label, self.offset, rng)
                | group_params(self.exclude_groups, changed),
                seed,
            )
            for item, (clip_id, audio, label) in zip(self.item_names(name), draws, strict=True)
        ]
