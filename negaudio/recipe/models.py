"""Recipe models: the declarative description of a negative-audio test set (validated by pydantic v2)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from negaudio.sources import config_types

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- audio -------------------------------------------------------------------------------------------------


class MatchDuration(Strict):
    """Every item of a sample is as long as its positive clip."""

    policy: Literal["match"] = "match"


class FixedDuration(Strict):
    """Every clip is ``seconds`` long: longer clips keep their start, shorter ones are tiled."""

    policy: Literal["fixed"]
    seconds: float = Field(gt=0, le=600)


class CenterCropDuration(Strict):
    """Every clip is the centred ``seconds`` of its source (tiled first when shorter), as EZ-VSL's 3 s crop."""

    policy: Literal["center_crop"]
    seconds: float = Field(gt=0, le=600)


Duration = Annotated[MatchDuration | FixedDuration | CenterCropDuration, Field(discriminator="policy")]


class AudioSpec(Strict):
    """The one output path every item, positive or negative, goes through."""

    sample_rate: int = Field(16000, ge=8000, le=192000)
    channels: int = Field(1, ge=1, le=2)
    duration: Duration = MatchDuration()
    format: Literal["wav_pcm16", "wav_float32", "flac"] = "wav_pcm16"
    measure_lufs: bool = Field(False, description="Record each item's integrated loudness (BS.1770, pyloudnorm).")


# --- levels ------------------------------------------------------------------------------------------------


class RmsLevel(Strict):
    """Scale to an RMS level in dB relative to full scale."""

    rms_dbfs: float = Field(le=0, ge=-120)


class SnrLevel(Strict):
    """Scale relative to the paired positive: SNR in dB on whole-clip RMS."""

    snr_db: float = Field(ge=-40, le=80)


class SigmaLevel(Strict):
    """The reference code's N(0, sigma^2) white noise (compatibility with vssl_eval)."""

    sigma: float = Field(gt=0, le=10)


Level = RmsLevel | SnrLevel | SigmaLevel
Color = Literal["white", "pink", "brown", "blue", "violet"]
ClipPolicy = Literal["clip", "none", "normalize"]


# --- negatives ---------------------------------------------------------------------------------------------


class NegativeBase(Strict):
    name: str | None = Field(None, description="Item-id suffix; defaults to one derived from the parameters.")

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError("use lowercase letters, digits, '.', '_' and '-'")
        return value


class Silence(NegativeBase):
    """Digital zeros, optionally with dither at a stated RMS level."""

    kind: Literal["silence"]
    dither_dbfs: float | None = Field(None, le=-20, ge=-140)

    def default_name(self) -> str:
        return "silence" if self.dither_dbfs is None else f"silence-dither{self.dither_dbfs:g}"


class Noise(NegativeBase):
    """Coloured noise (1/f^beta by FFT shaping over the whole clip) at a stated level."""

    kind: Literal["noise"]
    color: Color = "white"
    level: Level = SigmaLevel(sigma=1.0)
    clip: ClipPolicy = "clip"

    def default_name(self) -> str:
        level = self.level
        if isinstance(level, RmsLevel):
            tag = f"rms{level.rms_dbfs:g}"
        elif isinstance(level, SnrLevel):
            tag = f"snr{level.snr_db:g}"
        else:
            tag = f"sigma{level.sigma:g}"
        return f"noise-{self.color}-{tag}"


class FolderPool(Strict):
    """Clips from a plain folder, with their class given by the index file or the sub-folder name."""

    folder: Path
    index: Path | None = None


Offset = Literal["start", "center", "random"]


class Offscreen(NegativeBase):
    """A clip whose class is absent from the image (every visible class excluded)."""

    kind: Literal["offscreen"]
    pool: Literal["same"] | FolderPool = "same"
    offset: Offset = "random"

    def default_name(self) -> str:
        return "offscreen"


class Mismatched(NegativeBase):
    """The "Un-X" sets: the image paired with audio of another class of the same dataset."""

    kind: Literal["mismatched"]
    count: int = Field(1, ge=1, le=16)
    offset: Offset = "start"

    def default_name(self) -> str:
        return "mismatched"

    def item_names(self, name: str) -> list[str]:
        """One item per drawn clip: ``name``, or ``name-1`` ... ``name-<count>``."""
        return [name] if self.count == 1 else [f"{name}-{k}" for k in range(1, self.count + 1)]


class Recording(NegativeBase):
    """A real silence or noise recording drawn from a user folder (wav/flac/ogg files)."""

    kind: Literal["recording"]
    folder: Path
    offset: Offset = "random"
    level: RmsLevel | None = None

    def default_name(self) -> str:
        return f"recording-{self.folder.name}"


Negative = Annotated[Silence | Noise | Offscreen | Mismatched | Recording, Field(discriminator="kind")]


class PositiveNoise(Strict):
    """Extra positives mixed with noise at each SNR of a grid (SSL-SaN uses 20, 10 and 5 dB)."""

    color: Color = "white"
    snr_db: list[float] = Field(default_factory=lambda: [20.0, 10.0, 5.0], min_length=1)
    clip: ClipPolicy = "clip"

    def item_names(self) -> list[str]:
        return [f"positive-{self.color}-snr{snr:g}" for snr in self.snr_db]


class MaskSpec(Strict):
    rle: bool = Field(True, description="Also store each mask as COCO RLE in the manifest.")


# --- recipe ------------------------------------------------------------------------------------------------


SourceConfig = Annotated[Union[tuple(config_types())], Field(discriminator="kind")]  # noqa: UP007


class Recipe(Strict):
    """A negative-audio test set: a source, the audio spec, the negatives per positive, a seed, a name."""

    name: str
    version: str = "0.1.0"
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63)
    source: SourceConfig
    audio: AudioSpec = AudioSpec()
    negatives: list[Negative] = Field(default_factory=list)
    positive_noise: PositiveNoise | None = None
    masks: MaskSpec = MaskSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use lowercase letters, digits, '.', '_' and '-'")
        return value

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError("expected a semantic version such as 1.0.0")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Recipe:
        names = self.item_names()
        seen = {n for n in names if names.count(n) > 1}
        if seen:
            raise ValueError(f"items share the name(s) {sorted(seen)}: give each negative a distinct 'name'")
        return self

    def negative_names(self) -> list[str]:
        return [n.name or n.default_name() for n in self.negatives]

    def item_names(self) -> list[str]:
        """Every item name a sample gets (the item-id suffixes), in plan order."""
        names = ["positive"]
        for spec, name in zip(self.negatives, self.negative_names(), strict=True):
            names.extend(spec.item_names(name) if isinstance(spec, Mismatched) else [name])
        return names + (self.positive_noise.item_names() if self.positive_noise else [])

    def canonical_json(self) -> str:
        """The recipe as sorted JSON without defaulted fields: a field added later with a default that keeps
        the old behaviour leaves the hash (and so the canonical plans) unchanged."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def recipe_json_schema() -> dict:
    """JSON Schema of recipes, for editors' autocomplete and validation."""
    return Recipe.model_json_schema(mode="validation")
