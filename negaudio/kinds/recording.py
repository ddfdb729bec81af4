"""Recording: a real silence or noise recording drawn from a user folder (wav/flac/ogg files), optionally one
item per recorded class (a sub-folder each), so that silence and noise recordings are scored apart."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_serializer

from negaudio.core.model import check_slug
from negaudio.kinds.base import Drawn, Negative, PlanContext, Signal, generator, item_seed
from negaudio.kinds.clips import Offset, audio_files, locate, offset_fraction, window
from negaudio.kinds.noise import RmsLevel
from negaudio.media.audio import scale_to_rms_dbfs


class Recording(Negative):
    """A real silence or noise recording drawn from a user folder (wav/flac/ogg files); with ``classes``, one item
    per listed sub-folder (``<name>-<class>``), each drawn from that sub-folder only."""

    kind: Literal["recording"]
    folder: Path
    offset: Offset = "random"
    level: RmsLevel | None = None
    classes: list[str] | None = Field(
        None,
        min_length=1,
        description="Sub-folders of 'folder', one per recorded class (e.g. [silence, noise]): one item each, "
        "named <name>-<class>, so each class is scored as its own negative type. Default: one item drawn "
        "from every file of the folder.",
    )

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for c in value:
                check_slug(c)
            if len(set(value)) != len(value):
                raise ValueError(f"classes must be distinct, got {value}")
        return value

    @model_serializer(mode="wrap")
    def _omit_unset_classes(self, handler):
        # without classes, the recipe dumps (plan headers) stay those of before the field existed
        data = handler(self)
        if self.classes is None and isinstance(data, dict):
            data.pop("classes", None)
        return data

    def default_name(self) -> str:
        return f"recording-{self.folder.name}"

    def item_names(self, name: str) -> list[str]:
        return [name] if self.classes is None else [f"{name}-{c}" for c in self.classes]

    def draw(self, name: str, sample, plan: PlanContext) -> list[Drawn]:
        """One item, or one per class, each from its own generator (keyed by its item name)."""
        out = []
        for item, recorded in zip(self.item_names(name), self.classes or [None], strict=True):
            seed = item_seed(plan.seed, f"{sample.sample_id}/{item}")
            out.append(Drawn(item, self._params(generator(seed), plan, recorded), seed))
        return out

    def _params(self, rng: np.random.Generator, plan: PlanContext, recorded: str | None) -> dict:
        sub = "" if recorded is None else f"{recorded}/"
        files = plan.memo(("recordings", self.folder, recorded), lambda: audio_files(self.folder / sub))
        return {
            "folder": str(self.folder),
            "clip_audio": sub + files[int(rng.integers(len(files)))],
            "offset": self.offset,
            "offset_fraction": offset_fraction(self.offset, rng),
            "level": None if self.level is None else self.level.model_dump(),
            "heard_label": None,
        } | ({} if recorded is None else {"recorded_class": recorded})

    def folders(self) -> list[str]:
        return [str(self.folder)]

    @classmethod
    def reads(cls, params: dict) -> list[tuple[str | None, str]]:
        return [(params["folder"], params["clip_audio"])]

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        path = locate(signal.source_root, params["folder"], params["clip_audio"])
        wave, facts = window(signal, path, params["offset"], params["offset_fraction"])
        if params.get("level"):
            wave, gain = scale_to_rms_dbfs(wave, params["level"]["rms_dbfs"])
            facts["gain"] = float(gain)
        return wave, facts
