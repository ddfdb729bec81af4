"""IS3 (Senocak et al., ICCV 2023): two sounding objects per image, one annotation (image copy + audio) each.

Layout read: ``images/`` (or ``visual_frames/``) ``<name>.jpg``, ``audio_wav/<name>.wav``, optional binary JPEG
masks in ``gt_masks/`` or ``gt_segmentation/``, and an annotation list ``[{image, audio, gt_box}]``
(``IS3_annotation.json`` or SSLalignment's ``synthetic3240_bbox.json`` / ``_seg.json``; only the basenames of the
paths matter). Names are ``<image key>_<target>``: the last ``_`` token is the sounding class, the rest the image
key that groups the two annotations of one image. ``gt_box`` is in pixels of a 224x224 frame, whatever the size
of the released image (the IS3+ samples are 1024x1024): regions keep that frame in ``box_space``. A mask file,
when present, is the region's exact ground truth (binarised ``> 127``: the masks are JPEG); else the box is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.sources.base import Sample, SourceReport
from negaudio.sources.common import files_by_name, find_file, read_json_list, require_root

ANNOTATION_FILES = (
    "IS3_annotation.json",
    "synthetic3240_bbox.json",
    "is3_synthetic3240_bbox.json",
    "metadata/IS3_annotation.json",
    "metadata/synthetic3240_bbox.json",
    "synthetic3240_seg.json",
    "is3_synthetic3240_seg.json",
    "metadata/synthetic3240_seg.json",
)
IMAGE_DIRS = ("images", "visual_frames")
AUDIO_DIR = "audio_wav"
MASK_DIRS = ("gt_masks", "gt_segmentation")
MASK_SUFFIXES = (".jpg", ".png")
LISTED = (*IMAGE_DIRS, AUDIO_DIR, *MASK_DIRS)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["is3"]
    root: Path | None = None
    annotations: Path | None = Field(
        None,
        description="Annotation list (relative to root, or absolute); default: the first known name found in root.",
    )
    box_size: float = Field(224.0, gt=0, description="Side of the square frame the gt_box values are in.")


def visible_tokens(group: str) -> set[str]:
    """The object names of an image key (``fox_train_1234`` -> {fox, train}): visible even when the other
    annotation's target token differs (``fox_train`` targets ``subway``), so off-screen draws avoid them too."""
    return {token for token in group.split("_") if not token.isdigit()}


@dataclass(frozen=True)
class Annotation:
    """One IS3 annotation: basenames of its files and its box (224-px) or mask file."""

    name: str
    image: str
    audio: str
    box: tuple[float, float, float, float] | None
    mask: str | None

    @property
    def group(self) -> str:
        return self.name.rsplit("_", 1)[0]

    @property
    def target(self) -> str:
        return self.name.rsplit("_", 1)[1]


def _basename(path: str) -> str:
    """The file name of a POSIX or Windows path (the authors' absolute paths are machine-specific)."""
    return PureWindowsPath(PurePosixPath(path).name).name


def _box(value, where: str) -> tuple[float, float, float, float]:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: gt_box must be four numbers or a mask path") from None
    if x2 < x1 or y2 < y1:
        raise InputError(f"{where}: gt_box must be [xmin, ymin, xmax, ymax] with min <= max")
    return (x1, y1, x2, y2)


def parse_entry(entry, where: str) -> Annotation:
    """An annotation from one entry of the list; InputError naming the entry when malformed."""
    if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
        raise InputError(f"{where}: expected an object with an 'image' path")
    image = _basename(entry["image"])
    name = image.rsplit(".", 1)[0]
    if "_" not in name:
        raise InputError(f"{where}: name {name!r} is not '<image key>_<target>'")
    audio = _basename(entry["audio"]) if isinstance(entry.get("audio"), str) else f"{name}.wav"
    raw = entry.get("gt_box", entry.get("bbox"))
    box = mask = None
    if isinstance(raw, str):
        mask = _basename(raw)
    elif raw is not None:
        box = _box(raw, where)
    return Annotation(name=name, image=image, audio=audio, box=box, mask=mask)


def read_annotations(path: Path) -> list[Annotation]:
    data = read_json_list(path, "IS3 annotation list", "{image, audio, gt_box}")
    return [parse_entry(entry, f"{path}[{i}]") for i, entry in enumerate(data)]


class IS3Source:
    """IS3 samples grouped by image. With a root the media are checked (the intersection is kept); without
    (annotation-only mode, for canonical plans) paths follow the release layout. Boxes keep their 224-px frame
    (``box_space``); rendering scales them to each stored image."""

    name = "is3"

    def __init__(self, annotations: list[Annotation], root: Path | None, box_size: float = 224.0):
        self.annotations = annotations
        self.root = root or Path(".")
        self.media = root is not None
        self.box_space = (box_size, box_size)
        self.report = SourceReport()

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        classes: dict[str, set[str]] = defaultdict(set)
        for ann in self.annotations:
            classes[ann.group].add(ann.target)
            classes[ann.group].update(visible_tokens(ann.group))
        listing = {d: files_by_name(self.root / d) for d in LISTED} if self.media else None
        seen: set[str] = set()
        for ann in sorted(self.annotations, key=lambda a: (a.group, a.target, a.name)):
            if ann.name in seen:
                self.report.skip("duplicate annotation")
                continue
            seen.add(ann.name)
            paths = self._media(ann, listing) if listing is not None else self._release_paths(ann)
            if paths is None:
                continue
            image, mask = paths
            if mask is None and ann.box is None:
                self.report.skip("no box and no mask file")
                continue
            self.report.kept += 1
            region = Region(
                label=ann.target, box=ann.box, box_space=None if ann.box is None else self.box_space, mask=mask
            )
            yield Sample(
                sample_id=ann.name,
                image=image,
                audio=f"{AUDIO_DIR}/{ann.audio}",
                label=ann.target,
                image_classes=tuple(sorted(classes[ann.group])),
                regions=(region,),
                group=ann.group,
            )

    @staticmethod
    def _release_paths(ann: Annotation) -> tuple[str, str | None]:
        return f"{IMAGE_DIRS[0]}/{ann.image}", ann.mask and f"{MASK_DIRS[0]}/{ann.mask}"

    def _media(self, ann: Annotation, listing: dict[str, set[str]]) -> tuple[str, str | None] | None:
        """(image path, mask path or None) of an annotation whose media are present; None (reported) if not."""
        image_dir = next((d for d in IMAGE_DIRS if ann.image in listing[d]), None)
        if image_dir is None:
            self.report.skip("image missing")
            return None
        if ann.audio not in listing[AUDIO_DIR]:
            self.report.skip("audio missing")
            return None
        names = [ann.mask] if ann.mask else [ann.name + s for s in MASK_SUFFIXES]
        mask = next((f"{d}/{n}" for d in MASK_DIRS for n in names if n in listing[d]), None)
        return f"{image_dir}/{ann.image}", mask


def annotation_path(root: Path, config: Config) -> Path:
    return find_file(root, config.annotations, ANNOTATION_FILES, "IS3 annotation list")


DEMO_HINT = "; only the bundled recipe, named as such (negaudio build is3plus), falls back to the embedded demo bank"


def open_source(config: Config, root: Path | None) -> IS3Source:
    root = require_root("is3", config.root, root, DEMO_HINT)
    return IS3Source(read_annotations(annotation_path(root, config)), root, config.box_size)


def plan_source(config: Config, annotations: Path) -> IS3Source:
    """Annotation-only mode: samples from the list alone (no media), for canonical plans."""
    return IS3Source(read_annotations(annotations), None, config.box_size)
