"""Recording: a real silence or noise recording drawn from a user folder (wav/flac/ogg files)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from negaudio.kinds.base import Negative, PlanContext, Signal
from negaudio.kinds.clips import Offset, audio_files, locate, offset_fraction, window
from negaudio.kinds.noise import RmsLevel
from negaudio.media.audio import scale_to_rms_dbfs


class Recording(Negative):
    """A real silence or noise recording drawn from a user folder (wav/flac/ogg files)."""

    kind: Literal["recording"]
    folder: Path
    offset: Offset = "random"
    level: RmsLevel | None = None

    def default_name(self) -> str:
        return f"recording-{self.folder.name}"

    def params(self, sample, rng: np.random.Generator, plan: PlanContext) -> dict:
        files = plan.memo(("recordings", self.folder), lambda: audio_files(self.folder))
        return {
            "folder": str(self.folder),
            "clip_audio": files[int(rng.integers(len(files)))],
            "offset": self.offset,
            "offset_fraction": offset_fraction(self.offset, rng),
            "level": None if self.level is None else self.level.model_dump(),
            "heard_label": None,
        }

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
