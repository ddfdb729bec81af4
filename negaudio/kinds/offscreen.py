"""Off-screen: a clip whose class is absent from the image (every visible class excluded)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from negaudio.core.errors import SampleError
from negaudio.kinds.base import PlanContext
from negaudio.kinds.clips import (
    FolderPool,
    GroupedDraw,
    Offset,
    PoolClip,
    clip_params,
    excluded_draw,
    folder_pool,
    group_params,
    same_pool,
)


class Offscreen(PoolClip, GroupedDraw):
    """A clip whose class is absent from the image (every visible class excluded)."""

    kind: Literal["offscreen"]
    pool: Literal["same"] | FolderPool = "same"
    offset: Offset = "random"

    def params(self, sample, rng: np.random.Generator, plan: PlanContext) -> dict:
        if self.pool == "same":
            pool, origin = plan.memo("same-pool", lambda: same_pool(plan.samples)), "same"
        else:
            pool, origin = plan.memo(("folder-pool", self.pool), lambda: folder_pool(self.pool)), str(self.pool.folder)
        try:
            ((clip_id, audio, label),), changed = excluded_draw(
                pool, rng, set(sample.image_classes), 1, self.exclude_groups, plan
            )
        except ValueError as exc:
            raise SampleError(sample.sample_id, str(exc)) from None
        return clip_params(origin, clip_id, audio, label, self.offset, rng) | group_params(self.exclude_groups, changed)

    def folders(self) -> list[str]:
        return [] if self.pool == "same" else [str(self.pool.folder)]
