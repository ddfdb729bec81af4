"""AVSBench S4 (single source, Zhou et al. ECCV 2022): one sounding category per clip.

Layout read (root = ``Single-source/``, or ``s4_data/`` itself): ``s4_meta_data.csv`` (``name``, start time,
``category``, ``split``; the start-time column is never read, its header name is unknown),
``s4_data/visual_frames/<split>/<category>/<name>/<name>_<k>.png``, ``s4_data/gt_masks/...`` (same names) and
``s4_data/audio_wav/<split>/<category>/<name>.wav``. The class is the category (e.g. ``helicopter``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from negaudio.sources.avsbench import FRAMES, Frame, FrameSource, data_prefix, read_box_list, read_meta
from negaudio.sources.common import find_file, require_root

META_FILES = ("s4_meta_data.csv", "../s4_meta_data.csv")
DATA = "s4_data"
COLUMNS = {"name": 0, "category": 2, "split": 3}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["s4"]
    root: Path | None = None
    annotations: Path | None = Field(None, description="s4_meta_data.csv (relative to root, or absolute).")
    split: Literal["train", "val", "test"] = "test"


def frame(prefix: str, split: str, category: str, name: str, k: int, box=None) -> Frame:
    tail = f"{split}/{category}/{name}/{name}_{k}.png"
    return Frame(
        sample_id=f"{name}_{k}",
        image=f"{prefix}visual_frames/{tail}",
        mask=f"{prefix}gt_masks/{tail}",
        audio=f"{prefix}audio_wav/{split}/{category}/{name}.wav",
        label=category,
        box=box,
    )


def open_source(config: Config, root: Path | None) -> FrameSource:
    root = require_root("s4", config.root, root)
    meta = read_meta(find_file(root, config.annotations, META_FILES, "S4 metadata"), COLUMNS)
    prefix = data_prefix(root, DATA)
    masks = 1 if config.split == "train" else FRAMES  # the release's rule: train has the first mask only
    frames = [
        frame(prefix, config.split, row["category"], row["name"], k)
        for row in meta
        if row["split"] == config.split
        for k in range(1, masks + 1)
    ]
    return FrameSource("s4", frames, root)


def plan_source(config: Config, box_list: Path) -> FrameSource:
    """Annotation-only mode: the frames of SSLalignment's ``s4_box.json`` (paths of the release layout under
    ``Single-source/``, the mask as GT and the 224-px box alongside), for canonical plans."""
    frames = []
    for image, _, box in read_box_list(box_list):
        split, category, name = image.parts[-4:-1]
        frames.append(frame(f"{DATA}/", split, category, name, int(image.stem.rsplit("_", 1)[1]), box))
    return FrameSource("s4", frames, None)
