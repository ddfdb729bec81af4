"""A plain folder: images, audio, optional masks or boxes, described by an ``index.csv`` or ``index.jsonl``.

JSONL rows: ``{"sample_id", "image", "audio", "label", "image_classes": [...], "group"?,
"regions": [{"label", "box": [x1, y1, x2, y2]?, "mask": "path"?, "weight"?}]?}``.
CSV columns: ``sample_id,image,audio,label`` and optionally ``image_classes`` (``|``-separated),
``group``, ``mask`` (a path) and ``box`` (four numbers separated by spaces). Paths are relative to the folder;
boxes are in pixels of the image file.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.sources.base import Sample, SourceReport

SAMPLE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["folder"]
    root: Path | None = None
    index: str = "index.jsonl"


class FolderSource:
    name = "folder"

    def __init__(self, root: Path, index: str = "index.jsonl"):
        self.root = Path(root)
        self.index = self.root / index
        self.report = SourceReport()
        if not self.index.is_file():
            raise InputError(f"{self.index}: index file not found (expected index.jsonl or index.csv)")

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        seen: set[str] = set()
        for line, row in self._rows():
            sample = _sample_from_row(row, f"{self.index}:{line}")
            if sample.sample_id in seen:
                raise InputError(f"{self.index}:{line}: duplicate sample_id {sample.sample_id!r}")
            seen.add(sample.sample_id)
            self.report.kept += 1
            yield sample

    def _rows(self) -> Iterator[tuple[int, dict]]:
        if self.index.suffix == ".csv":
            with self.index.open(newline="", encoding="utf-8") as fh:
                for line, row in enumerate(csv.DictReader(fh), start=2):
                    yield line, _csv_row(row, f"{self.index}:{line}")
        else:
            with self.index.open(encoding="utf-8") as fh:
                for line, text in enumerate(fh, start=1):
                    if text.strip():
                        try:
                            yield line, json.loads(text)
                        except json.JSONDecodeError as exc:
                            raise InputError(f"{self.index}:{line}: invalid JSON ({exc.msg})") from None


def _csv_row(row: dict, where: str) -> dict:
    out = {k: v for k, v in row.items() if k in ("sample_id", "image", "audio", "label", "group") and v}
    label = row.get("label", "")
    out["image_classes"] = [c for c in (row.get("image_classes") or label).split("|") if c]
    region: dict = {"label": label}
    if row.get("box"):
        try:
            region["box"] = [float(v) for v in row["box"].split()]
        except ValueError:
            raise InputError(f"{where}: box must be four numbers separated by spaces") from None
    if row.get("mask"):
        region["mask"] = row["mask"]
    out["regions"] = [region] if len(region) > 1 else []
    return out


def _sample_from_row(row: dict, where: str) -> Sample:
    for key in ("sample_id", "image", "audio", "label"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise InputError(f"{where}: field {key!r} is required (a non-empty string)")
    if not SAMPLE_ID.match(row["sample_id"]):
        raise InputError(f"{where}: sample_id {row['sample_id']!r} may hold only letters, digits, '.', '_', '-'")
    regions = []
    for i, reg in enumerate(row.get("regions") or []):
        box = reg.get("box")
        if box is not None and (len(box) != 4 or box[2] < box[0] or box[3] < box[1]):
            raise InputError(f"{where}: regions[{i}].box must be [xmin, ymin, xmax, ymax] with min <= max")
        regions.append(
            Region(
                label=reg.get("label", row["label"]),
                box=None if box is None else tuple(float(v) for v in box),
                mask=reg.get("mask"),
                mask_threshold=int(reg.get("mask_threshold", 127)),
                weight=float(reg.get("weight", 1.0)),
            )
        )
    classes = tuple(row.get("image_classes") or [row["label"]])
    return Sample(
        sample_id=row["sample_id"],
        image=row["image"],
        audio=row["audio"],
        label=row["label"],
        image_classes=classes if row["label"] in classes else (*classes, row["label"]),
        regions=tuple(regions),
        group=row.get("group"),
    )


def open_source(config: Config, root: Path | None) -> FolderSource:
    root = root or config.root
    if root is None:
        raise InputError("source.root: the folder source needs a root (in the recipe or with --source)")
    if not Path(root).is_dir():
        raise InputError(f"{root}: source folder not found")
    return FolderSource(Path(root), config.index)
