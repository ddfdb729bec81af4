"""AVSBench-semantic (AVSS): per-class colour masks of the sounding objects, 70 classes.

Layout read: ``metadata.csv`` (``vid, uid, s_min, s_sec, a_obj, split, label``; read by position: uid 1,
a_obj 4, split 5, label 6), ``label2idx.json`` (class -> palette index, background included: its index is read,
never assumed), and ``<label>/<uid>/{frames/<i>.jpg, labels_rgb/<i>.png, audio.wav}`` with i from 0
(5 frames for v1s/v1m, 10 for v2). A colour mask is decoded through the PASCAL-VOC bit palette (exact colour
match; unknown colours count as background, as in the authors' ``color_mask_to_label``).

One sample per frame with a colour mask: ``<uid>_<i>``, the clip's audio, label = the clip's sounding classes
(``a_obj``, sorted, joined by ``_``), image_classes = that label, its classes and every class decoded in the
frame (the joined label too, so that a draw never takes a clip of the same class set). Each
class present is a region whose mask is written, decoded, to the negaudio cache (the source folder is never
written); a frame with no sounding pixel has one region with an empty mask (AVSBench's empty-mask rule).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from negaudio.core import cache
from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.media.images import open_image
from negaudio.sources.avsbench import read_meta
from negaudio.sources.base import Sample, SourceReport
from negaudio.sources.common import find_file, require_root

FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}
COLUMNS = {"uid": 1, "a_obj": 4, "split": 5, "label": 6}
BACKGROUND = "background"
DECODER_VERSION = 1
Subset = Literal["v1s", "v1m", "v2"]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["avss"]
    root: Path | None = None
    annotations: Path | None = Field(None, description="metadata.csv (relative to root, or absolute).")
    split: Literal["train", "val", "test"] = "test"
    subsets: tuple[Subset, ...] = ("v1s", "v1m", "v2")


def palette_colour(index: int) -> tuple[int, int, int]:
    """The PASCAL-VOC bit palette: bits 0, 1, 2 of successive 3-bit groups fill R, G, B from the MSB down."""
    rgb = [0, 0, 0]
    for shift in range(8):
        for channel in range(3):
            rgb[channel] |= ((index >> (3 * shift + channel)) & 1) << (7 - shift)
    return rgb[0], rgb[1], rgb[2]


def read_classes(path: Path) -> dict[int, str]:
    """``label2idx.json`` as {packed RGB colour: class}; the background is whichever index it gives."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the class table ({exc})") from None
    if not isinstance(table, dict) or not all(isinstance(v, int) for v in table.values()):
        raise InputError(f"{path}: expected {{class name: palette index}}")
    if BACKGROUND not in table:
        raise InputError(f"{path}: no {BACKGROUND!r} entry, so the background index is unknown")
    colours = {}
    for name, index in table.items():
        r, g, b = palette_colour(index)
        colours[(r << 16) | (g << 8) | b] = name
    return colours


def decode(path: Path, colours: dict[int, str]) -> tuple[dict[str, np.ndarray], bool, tuple[int, int]]:
    """A colour mask as ({class: bool mask} without background, whether unknown colours occur, (width, height))."""
    try:
        with open_image(path, str(path)) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint32)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the colour mask ({exc})") from None
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    masks, unknown = {}, False
    for value in np.unique(packed):
        name = colours.get(int(value))
        if name is None:
            unknown = True
        elif name != BACKGROUND:
            masks[name] = packed == value
    return masks, unknown, (rgb.shape[1], rgb.shape[0])


class AVSSSource:
    name = "avss"

    def __init__(self, root: Path, rows: list[dict[str, str]], colours: dict[int, str], config: Config):
        self.root = root
        self.rows = rows
        self.colours = colours
        self.config = config
        self.report = SourceReport()
        self.unknown = 0

    def samples(self) -> Iterator[Sample]:
        self.report, self.unknown = SourceReport(), 0
        for row in self.rows:
            if row["split"] != self.config.split or row["label"] not in self.config.subsets:
                continue
            clip = f"{row['label']}/{row['uid']}"
            if not (self.root / clip / "audio.wav").is_file():
                self.report.skip("audio missing")
                continue
            for i in range(FRAMES[row["label"]]):
                sample = self._sample(row, clip, i)
                if sample is not None:
                    self.report.kept += 1
                    yield sample
        if self.unknown:
            self.report.notes.append(f"frames with colours outside the palette (read as background): {self.unknown}")

    def _sample(self, row: dict[str, str], clip: str, i: int) -> Sample | None:
        colour = self.root / clip / "labels_rgb" / f"{i}.png"
        if not (self.root / clip / "frames" / f"{i}.jpg").is_file():
            self.report.skip("frame missing")
            return None
        if not colour.is_file():
            self.report.skip("frame without a colour mask")
            return None
        masks, unknown, (width, height) = decode(colour, self.colours)
        self.unknown += unknown
        digest = cache.file_digest(colour, sorted(self.colours.items()), DECODER_VERSION)
        heard = sorted({c for c in row["a_obj"].split("_") if c})
        label = "_".join(heard)
        if masks:
            regions = tuple(Region(label=name, mask=_cached_mask(digest, name, m)) for name, m in sorted(masks.items()))
        else:
            regions = (Region(label=label, mask=_cached_mask(digest, "empty", np.zeros((height, width), bool))),)
        return Sample(
            sample_id=f"{row['uid']}_{i}",
            image=f"{clip}/frames/{i}.jpg",
            audio=f"{clip}/audio.wav",
            label=label,
            image_classes=tuple(sorted({label, *heard, *masks})),
            regions=regions,
            audio_classes=tuple(heard),
        )


def _cached_mask(digest: str, name: str, mask: np.ndarray) -> str:
    """The cache reference of a decoded 0/255 mask, written on first use."""

    def write(tmp: Path) -> None:
        Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(tmp, format="PNG")

    return cache.cache_ref(cache.ensure(cache.entry("avss", digest, f"{name}.png"), write))


def open_source(config: Config, root: Path | None) -> AVSSSource:
    root = require_root("avss", config.root, root)
    rows = read_meta(find_file(root, config.annotations, ("metadata.csv",), "AVSS metadata"), COLUMNS)
    colours = read_classes(find_file(root, None, ("label2idx.json",), "AVSS class table (label2idx.json)"))
    return AVSSSource(root, rows, colours, config)
