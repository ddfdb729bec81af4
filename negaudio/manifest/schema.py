"""The manifest record: one definition, as plain dataclasses. Rendering writes these (workers import no
pydantic); the reader validates each line into the same classes through pydantic (extra fields refused)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, is_dataclass
from typing import NotRequired  # pydantic validates these on Python < 3.12

from typing_extensions import TypedDict

FORBID = {"extra": "forbid"}  # pydantic config for the reader


@dataclass(frozen=True)
class AudioRef:
    __pydantic_config__ = FORBID
    path: str
    format: str
    sample_rate: int
    channels: int
    num_samples: int
    duration_s: float
    pcm_sha256: str
    rms_dbfs: float | None
    peak_dbfs: float | None
    lufs: float | None = None
    file_sha256: str | None = None


@dataclass(frozen=True)
class ImageRef:
    __pydantic_config__ = FORBID
    path: str
    width: int
    height: int
    sha256: str


@dataclass(frozen=True)
class Rle:
    __pydantic_config__ = FORBID
    size: list[int]
    counts: str


@dataclass(frozen=True)
class MaskRef:
    __pydantic_config__ = FORBID
    path: str
    width: int
    height: int
    sha256: str
    area: int
    scale: int = 255
    rle: Rle | None = None
    file_sha256: str | None = None


@dataclass(frozen=True)
class RegionRef:
    __pydantic_config__ = FORBID
    label: str
    box: list[float] | None
    weight: float


@dataclass(frozen=True)
class SourceRef:
    __pydantic_config__ = FORBID
    image: str
    audio: str
    clip_audio: str | None


@dataclass(frozen=True)
class ItemSeed:
    __pydantic_config__ = FORBID
    entropy: int
    spawn_key: list[int]


@dataclass(frozen=True)
class CompositeObject:
    """One object of a composite image: what the plan resolved and what rendering measured.

    ``visible`` is the object's mask after occlusion by the objects in front of it (higher ``z``), ``amodal`` its
    whole mask; both are the transformed alpha >= 0.5, before any feathering (docs/composites.md).
    """

    __pydantic_config__ = FORBID
    label: str
    role: str  # sounding or distractor
    sound_class: str | None
    audio: str | None  # the clip drawn for a sounding object, relative to the bank
    cutout: str
    crop: list[int]
    scale: float
    size: list[int]
    position: list[int]
    flip: bool
    rotation: float
    z: int
    blend: dict
    box: list[float] | None  # of the visible mask, [xmin, ymin, xmax, ymax] with max exclusive
    amodal_box: list[float] | None
    visible_area: int
    amodal_area: int
    occluded_fraction: float
    visible: Rle
    amodal: Rle


@dataclass(frozen=True)
class CompositeMix:
    """A multi-source positive's audio: target k's clip at ``levels_db[k]`` dB relative to the first target's
    RMS, scaled by ``gains[k]`` (linear, applied after the duration policy), summed."""

    __pydantic_config__ = FORBID
    levels_db: list[float]
    gains: list[float]


@dataclass(frozen=True)
class CompositeRef:
    """How a composite image was made: the canvas, the background, every object; ``targets`` are the objects
    whose visible masks make this sample's ground truth (one per sample; several for a multi-source positive,
    whose audio ``mix`` describes; absent otherwise)."""

    __pydantic_config__ = FORBID
    canvas: list[int]
    background: dict
    targets: list[int]
    objects: list[CompositeObject]
    mix: CompositeMix | None = None


@dataclass(frozen=True)
class ManifestRecord:
    """One rendered item. Paths are relative to the build root; boxes are in pixels of the stored image."""

    __pydantic_config__ = FORBID
    schema_version: str
    item_id: str
    kind: str
    name: str
    sample_id: str
    group: str | None
    label: str
    heard_label: str | None
    image_classes: list[str]
    source: SourceRef
    params: dict
    rendered: dict
    seed: ItemSeed
    audio: AudioRef
    image: ImageRef
    mask: MaskRef | None
    regions: list[RegionRef]
    item_sha256: str
    composite: CompositeRef | None = None

    def to_line(self) -> str:
        """The record's manifest line (sorted keys, compact, newline-terminated); ``composite`` (and its ``mix``)
        only when set."""
        data = plain_json(self)
        if data["composite"] is None:
            del data["composite"]
        elif data["composite"]["mix"] is None:
            del data["composite"]["mix"]
        return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain_json(value):
    """``dataclasses.asdict`` for JSON, without its deep copies: dataclasses and dicts to new dicts, tuples and
    lists to new lists, other values as they are."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else plain_json(v) for k, v in value.items()}
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not is_dataclass(value) or isinstance(value, type):
            return value
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
    out = {}
    for name in names:
        v = getattr(value, name)
        out[name] = v if type(v) in _SCALARS else plain_json(v)
    return out


def item_sha256(pcm_sha256: str, image_sha256: str, mask_sha256: str | None) -> str:
    """The content hash of one item: its decoded audio, its image file and its decoded mask."""
    return hashlib.sha256(f"{pcm_sha256}:{image_sha256}:{mask_sha256 or '-'}".encode()).hexdigest()


class DatasetInfo(TypedDict):
    name: str
    version: str
    description: str


class BuildInfo(TypedDict):
    """``build.json``: what was built (see docs/manifest.md). The reader validates it against this."""

    schema_version: str
    dataset: DatasetInfo
    negaudio_version: str
    dependencies: dict[str, str | None]
    recipe_sha256: str
    plan_sha256: str
    seed: int
    source: dict
    limit: int | None
    counts: dict[str, int]
    items: int
    failures: int
    partial: bool
    missing: dict
    content_sha256: str
    files_sha256: NotRequired[str]
    build_sha256: NotRequired[str]
