"""The manifest record: one definition, as plain dataclasses. Rendering writes these (workers import no
pydantic); the reader validates each line into the same classes through pydantic (extra fields refused)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
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

    def to_line(self) -> str:
        """The record's manifest line (sorted keys, compact, newline-terminated)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")) + "\n"


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
