"""VGG-Sound Source (VGG-SS, Chen et al. CVPR 2021): one frame and one clip per VGGSound id, one class each.

Layout read: ``frames/<id>.jpg``, ``audio/<id>.wav`` and ``vggss.json`` (``[{file, class, bbox}]``, boxes
``[xmin, ymin, xmax, ymax]`` normalised to [0, 1]). Boxes are clipped to [0, 1] (12 hold a ``-2.88e16``
sentinel) and kept normalised (``box_space`` (1, 1)); rendering scales them by the stored frame's own width and
height (frames range from 272x480 to 1920x1080), as the reference loaders do after resizing to 224x224.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.sources.base import Sample, SourceReport
from negaudio.sources.common import Box, files_by_name, find_file, read_ids, read_json_list, require_root

ANNOTATION_FILES = ("vggss.json", "metadata/vggss.json", "annotations.json", "metadata/vggss_annotations.json")
SENTINEL = 1e6  # |value| above this is the release's -2.88e16 glitch, not a coordinate
NORMALISED = (1.0, 1.0)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["vggss"]
    root: Path | None = None
    annotations: Path | None = Field(
        None, description="vggss.json (relative to root, or absolute); default: the first known name found in root."
    )
    split: Path | None = Field(
        None, description="Optional id list (one id per line, e.g. vggss_heard_test.csv) restricting the samples."
    )


def clip_boxes(boxes, where: str, report: SourceReport) -> list[Box]:
    """Boxes clipped to [0, 1], empty ones dropped; sentinels and drops are counted in ``report``."""
    out = []
    for box in boxes:
        try:
            values = [float(v) for v in box]
        except (TypeError, ValueError):
            raise InputError(f"{where}: each bbox must be four numbers") from None
        if len(values) != 4:
            raise InputError(f"{where}: each bbox must be [xmin, ymin, xmax, ymax]")
        if any(abs(v) > SENTINEL for v in values):
            report.skip("boxes with the -2.88e16 sentinel, clipped to [0, 1]")
        x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in values)
        if x2 <= x1 or y2 <= y1:
            report.skip("boxes empty after clipping, dropped")
            continue
        out.append((x1, y1, x2, y2))
    return out


def read_annotations(path: Path) -> list[dict]:
    data = read_json_list(path, "VGG-SS annotations", "{file, class, bbox}")
    for i, entry in enumerate(data):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("file"), str)
            and isinstance(entry.get("class"), str)
            and isinstance(entry.get("bbox"), list)
        ):
            raise InputError(f"{path}[{i}]: expected {{'file': str, 'class': str, 'bbox': [[x1, y1, x2, y2], ...]}}")
    return data


class VGGSSSource:
    """VGG-SS samples in id order; with a root, only those whose frame and audio are present. Boxes stay
    normalised (``box_space`` (1, 1)): rendering scales them by the stored frame's width and height."""

    name = "vggss"

    def __init__(self, entries: list[dict], root: Path | None, ids: list[str] | None = None, origin: str = ""):
        self.entries = entries
        self.root = root or Path(".")
        self.media = root is not None
        self.ids = ids
        self.origin = origin
        self.report = SourceReport()

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        boxes_report = SourceReport()
        frames = files_by_name(self.root / "frames") if self.media else set()
        audio = files_by_name(self.root / "audio") if self.media else set()
        for entry in self._selected():
            clip_id, label = entry["file"], entry["class"]
            boxes = clip_boxes(entry["bbox"], f"{self.origin}: {clip_id}", boxes_report)
            if not boxes:
                self.report.skip("no valid box")
                continue
            if self.media and f"{clip_id}.jpg" not in frames:
                self.report.skip("frame missing")
                continue
            if self.media and f"{clip_id}.wav" not in audio:
                self.report.skip("audio missing")
                continue
            self.report.kept += 1
            yield Sample(
                sample_id=clip_id,
                image=f"frames/{clip_id}.jpg",
                audio=f"audio/{clip_id}.wav",
                label=label,
                image_classes=(label,),
                regions=tuple(Region(label=label, box=b, box_space=NORMALISED) for b in boxes),
            )
        self.report.notes.extend(f"{reason}: {n}" for reason, n in sorted(boxes_report.missing.items()))

    def _selected(self) -> list[dict]:
        by_id: dict[str, dict] = {}
        for entry in self.entries:
            if entry["file"] in by_id:
                self.report.skip("duplicate annotation")
            by_id.setdefault(entry["file"], entry)
        if self.ids is None:
            return [by_id[k] for k in sorted(by_id)]
        wanted = sorted(set(self.ids))
        unknown = sum(1 for k in wanted if k not in by_id)
        if unknown:
            self.report.missing["split id without annotation"] = unknown
        return [by_id[k] for k in wanted if k in by_id]


def _ids(root: Path, split: Path | None) -> list[str] | None:
    if split is None:
        return None
    path = split if split.is_absolute() else root / split
    if not path.is_file():
        raise InputError(f"{path}: VGG-SS split id list not found")
    return read_ids(path)


def open_source(config: Config, root: Path | None) -> VGGSSSource:
    root = require_root("vggss", config.root, root)
    path = find_file(root, config.annotations, ANNOTATION_FILES, "VGG-SS annotations (vggss.json)")
    return VGGSSSource(read_annotations(path), root, _ids(root, config.split), str(path))


def plan_source(config: Config, annotations: Path, split: Path | None = None) -> VGGSSSource:
    """Annotation-only mode: samples from vggss.json alone (normalised boxes), for canonical plans."""
    ids = None if split is None else read_ids(split)
    return VGGSSSource(read_annotations(annotations), None, ids, str(annotations))
