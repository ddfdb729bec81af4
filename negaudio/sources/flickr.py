"""Flickr-SoundNet test set (Senocak et al. 2018): frames with the boxes of several annotators, no classes.

Layout read: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``Annotations/<id>.xml`` and the id list
``flickr_test.csv`` (first column; the second is unused, as in every reference loader). XML: every ``bbox``
element two levels down is one annotator's box; its coordinates are the children named ``xmin ymin xmax ymax``,
or else its 2nd to 5th children (the reference parser skips the first). Boxes are in a 256x256 frame
(``box_space``): rendering scales them to the stored frame. Consensus ground truth: every box weighs 0.5 and
the sum is clipped at 1, the reference ``sum / 2, clip 1``.

Flickr names no classes, so each clip is its own class (``flickr:<id>``): an off-screen or mismatched draw from
the Flickr pool excludes only the clip itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.sources.base import Sample, SourceReport
from negaudio.sources.common import Box, clip_class, files_by_name, find_file, read_ids, require_root

ID_FILES = ("flickr_test.csv", "metadata/flickr_test.csv")
BOX_SPACE = (256.0, 256.0)
WEIGHT = 0.5
COORDS = ("xmin", "ymin", "xmax", "ymax")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["flickr"]
    root: Path | None = None
    split: Path | None = Field(
        None,
        description="Id list (first column; relative to root, or absolute); "
        "default: flickr_test.csv in root or root/metadata.",
    )


def read_boxes(path: Path) -> list[Box]:
    """The annotators' boxes of one XML file, in its 256-px frame."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"{path}: cannot read the annotation ({exc})") from None
    boxes = []
    for element in (e for child in root for e in child if e.tag == "bbox"):
        named = {c.tag: c.text for c in element if c.tag in COORDS}
        texts = [named.get(t) for t in COORDS] if len(named) == 4 else [c.text for c in list(element)[1:5]]
        try:
            x1, y1, x2, y2 = (float(t) for t in texts)
        except (TypeError, ValueError):
            raise InputError(f"{path}: a bbox needs four numeric coordinates") from None
        boxes.append((x1, y1, x2, y2))
    return boxes


class FlickrSource:
    """Flickr samples in id order. With a root, ids whose frame, audio or XML is absent are left out; without
    (annotation-only mode, for canonical plans) there are no boxes: canonical plans are made without the
    per-image XML files."""

    name = "flickr"

    def __init__(self, ids: list[str], root: Path | None):
        self.ids = ids
        self.root = root or Path(".")
        self.media = root is not None
        self.report = SourceReport()

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        listing = {d: files_by_name(self.root / d) for d in ("frames", "audio", "Annotations")} if self.media else {}
        for clip_id in sorted(set(self.ids)):
            regions = self._regions(clip_id, listing) if self.media else ()
            if regions is None:
                continue
            label = clip_class("flickr", clip_id)
            self.report.kept += 1
            yield Sample(
                sample_id=clip_id,
                image=f"frames/{clip_id}.jpg",
                audio=f"audio/{clip_id}.wav",
                label=label,
                image_classes=(label,),
                regions=regions,
            )
        if not self.media:
            self.report.notes.append("annotation-only: no boxes (Annotations/*.xml are read when building)")

    def _regions(self, clip_id: str, listing: dict[str, set[str]]) -> tuple[Region, ...] | None:
        for folder, name in (
            ("frames", f"{clip_id}.jpg"),
            ("audio", f"{clip_id}.wav"),
            ("Annotations", f"{clip_id}.xml"),
        ):
            if name not in listing[folder]:
                self.report.skip(f"{folder} file missing")
                return None
        boxes = read_boxes(self.root / "Annotations" / f"{clip_id}.xml")
        if not boxes:
            self.report.skip("annotation without a box")
            return None
        label = clip_class("flickr", clip_id)
        return tuple(Region(label=label, box=b, box_space=BOX_SPACE, weight=WEIGHT) for b in boxes)


def open_source(config: Config, root: Path | None) -> FlickrSource:
    root = require_root("flickr", config.root, root)
    return FlickrSource(read_ids(find_file(root, config.split, ID_FILES, "Flickr id list")), root)


def plan_source(config: Config, ids: Path) -> FlickrSource:
    """Annotation-only mode: samples from the id list alone (no boxes), for canonical plans."""
    return FlickrSource(read_ids(ids), None)
