"""AVSBench MS3 (multiple sources): clips with several sounding objects and no category column.

Layout read (root = ``Multi-sources/``, or ``ms3_data/`` itself): ``ms3_meta_data.csv`` (video id, ``split``),
``ms3_data/visual_frames/<vid>/<vid>.mp4_<k>.png`` (no split folder), ``ms3_data/gt_masks/<split>/<vid>/<vid>_<k>.png``
(k = 1..5 in every split) and ``ms3_data/audio_wav/<split>/<vid>.wav``.

MS3 names no classes, so each clip is its own class: label = image_classes = ``ms3:<vid>``. An off-screen or
mismatched draw from the MS3 pool then excludes only the clip itself (the drawn clip may hold the same kinds of
objects); a folder pool cannot exclude anything it could recognise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from negaudio.sources.avsbench import FRAMES, Frame, FrameSource, data_prefix, read_box_list, read_meta
from negaudio.sources.common import clip_class, find_file, require_root

META_FILES = ("ms3_meta_data.csv", "../ms3_meta_data.csv")
DATA = "ms3_data"
COLUMNS = {"vid": 0, "split": 1}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ms3"]
    root: Path | None = None
    annotations: Path | None = Field(None, description="ms3_meta_data.csv (relative to root, or absolute).")
    split: Literal["train", "val", "test"] = "test"


def frame(prefix: str, split: str, vid: str, k: int, box=None) -> Frame:
    return Frame(
        sample_id=f"{vid}_{k}",
        image=f"{prefix}visual_frames/{vid}/{vid}.mp4_{k}.png",
        mask=f"{prefix}gt_masks/{split}/{vid}/{vid}_{k}.png",
        audio=f"{prefix}audio_wav/{split}/{vid}.wav",
        label=clip_class("ms3", vid),
        box=box,
    )


def open_source(config: Config, root: Path | None) -> FrameSource:
    root = require_root("ms3", config.root, root)
    meta = read_meta(find_file(root, config.annotations, META_FILES, "MS3 metadata"), COLUMNS)
    prefix = data_prefix(root, DATA)
    frames = [
        frame(prefix, config.split, row["vid"], k)
        for row in meta
        if row["split"] == config.split
        for k in range(1, FRAMES + 1)
    ]
    return FrameSource("ms3", frames, root)


def plan_source(config: Config, box_list: Path) -> FrameSource:
    """Annotation-only mode: the frames of SSLalignment's ``ms3_box.json`` (release layout under
    ``Multi-sources/``, the mask as GT and the 224-px box alongside), for canonical plans."""
    frames = []
    for image, audio, box in read_box_list(box_list):
        vid, k = image.stem.rsplit(".mp4_", 1)
        frames.append(frame(f"{DATA}/", audio.parent.name, vid, int(k), box))
    return FrameSource("ms3", frames, None)
