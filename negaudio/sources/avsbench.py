"""What the AVSBench adapters (S4, MS3) share: metadata CSVs, the frame list, and a source over it.

AVSBench keeps 5 frames per 5-s clip (the last of every second at 16 fps), 224x224 PNG, each with a 0/255 PNG
mask of the sounding pixels (binarised ``> 0``); the audio is the clip's 16 kHz wav (often stereo). One sample
per frame that has a GT mask (``<name>_<k>``, k = 1..5; S4 train has a mask for k = 1 only). Frames whose mask
is empty are kept: their region is that empty mask (AVSBench scores them by the empty-mask rule).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.sources.base import Sample, SourceReport
from negaudio.sources.common import Box

FRAMES = 5
SPLITS = ("train", "val", "test")
BOX_SPACE = (224.0, 224.0)  # the boxes SSLalignment derived from the masks (s4_box.json, ms3_box.json)


@dataclass(frozen=True)
class Frame:
    """One annotated frame: paths relative to the source root, its class, and a 224-px box when known."""

    sample_id: str
    image: str
    audio: str
    mask: str
    label: str
    box: Box | None = None


def read_meta(path: Path, columns: dict[str, int]) -> list[dict[str, str]]:
    """Rows of a metadata CSV as ``{field: value}``: a field is read by its header name when the first row is a
    header naming it, else by its position in ``columns``. The first row is a header when its ``split`` is not a
    split name."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except OSError as exc:
        raise InputError(f"{path}: cannot read the metadata ({exc})") from None
    if not rows:
        raise InputError(f"{path}: the metadata file is empty")
    header = [c.strip() for c in rows[0]]
    if len(header) > columns["split"] and header[columns["split"]] in SPLITS:
        header = []
    else:
        rows = rows[1:]
    where = {f: header.index(f) if f in header else pos for f, pos in columns.items()}
    width = max(where.values()) + 1
    out = []
    for line, row in enumerate(rows, start=2 if header else 1):
        if len(row) < width:
            raise InputError(f"{path}:{line}: expected at least {width} columns")
        out.append({f: row[pos].strip() for f, pos in where.items()})
    return out


def data_prefix(root: Path, folder: str) -> str:
    """``folder/`` when the release's data folder (``s4_data``, ``ms3_data``) is under root, else ``""``."""
    return f"{folder}/" if (root / folder).is_dir() else ""


def read_box_list(path: Path) -> list[tuple[PurePosixPath, PurePosixPath, Box]]:
    """SSLalignment's ``s4_box.json`` / ``ms3_box.json``: (image path, audio path, 224-px box) per frame."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the box list ({exc})") from None
    out = []
    for i, entry in enumerate(data if isinstance(data, list) else [None]):
        try:
            box = tuple(float(v) for v in entry["gt_box"])
            out.append((PurePosixPath(entry["image"]), PurePosixPath(entry["audio"]), box))
        except (TypeError, KeyError, ValueError):
            raise InputError(f"{path}[{i}]: expected {{image, audio, gt_box: [x1, y1, x2, y2]}}") from None
        if len(box) != 4:
            raise InputError(f"{path}[{i}]: gt_box must be [xmin, ymin, xmax, ymax]")
    return out


class FrameSource:
    """Samples from a frame list. With a root, frames whose image, mask or audio is absent are left out
    (counted in the report); without one (annotation-only mode) every frame is kept."""

    def __init__(self, name: str, frames: list[Frame], root: Path | None):
        self.name = name
        self.frames = frames
        self.root = root or Path(".")
        self.media = root is not None
        self.report = SourceReport()

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        seen: set[str] = set()
        for frame in self.frames:
            if frame.sample_id in seen:
                raise InputError(f"{self.name}: the metadata names frame {frame.sample_id!r} twice")
            seen.add(frame.sample_id)
            if self.media and not self._present(frame):
                continue
            self.report.kept += 1
            region = Region(
                label=frame.label,
                box=frame.box,
                box_space=None if frame.box is None else BOX_SPACE,
                mask=frame.mask,
                mask_threshold=0,
            )
            yield Sample(
                sample_id=frame.sample_id,
                image=frame.image,
                audio=frame.audio,
                label=frame.label,
                image_classes=(frame.label,),
                regions=(region,),
            )

    def _present(self, frame: Frame) -> bool:
        for what, rel in (("frame", frame.image), ("mask", frame.mask), ("audio", frame.audio)):
            if not (self.root / rel).is_file():
                self.report.skip(f"{what} missing")
                return False
        return True
