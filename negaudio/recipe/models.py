"""Recipe models: the declarative description of a negative-audio test set (validated by pydantic v2)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from negaudio.core.model import Strict, check_slug
from negaudio.kinds import ItemKind, negative_classes
from negaudio.kinds.noisy_positive import NoisyPositive
from negaudio.kinds.positive import Positive
from negaudio.sources import config_types

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")


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


# --- items ------------------------------------------------------------------------------------------------


class MaskSpec(Strict):
    rle: bool = Field(True, description="Also store each mask as COCO RLE in the manifest.")


# --- recipe ------------------------------------------------------------------------------------------------


Negative = Annotated[Union[tuple(negative_classes())], Field(discriminator="kind")]  # noqa: UP007
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
    positive_noise: NoisyPositive | None = None
    masks: MaskSpec = MaskSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_slug(value)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError("expected a semantic version such as 1.0.0")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Recipe:
        """Every item name once; a clash is reported at the entry that repeats a name (its ``name`` key, or the
        entry when its name is the default one)."""
        seen: set[str] = set()
        for k, (_, _, items) in enumerate(self.entries()):
            twice = sorted({item for item in items if item in seen or items.count(item) > 1})
            seen.update(items)
            if twice:
                loc = ("positive_noise",) if k > len(self.negatives) else ("negatives", k - 1, "name")
                error = PydanticCustomError(
                    "duplicate_name", "name(s) already taken by another item: give each negative a distinct 'name'"
                )
                raise ValidationError.from_exception_data(
                    type(self).__name__, [InitErrorDetails(type=error, loc=loc, input=twice)]
                )
        return self

    def negative_names(self) -> list[str]:
        return [n.name or n.default_name() for n in self.negatives]

    def item_names(self) -> list[str]:
        """Every item name a sample gets (the item-id suffixes), in plan order."""
        return [item for _, _, items in self.entries() for item in items]

    def entries(self) -> list[tuple[ItemKind, str, list[str]]]:
        """Every entry of a sample in plan order, as (kind, entry name, item names): the positive, each negative,
        then the noisy positives."""
        out: list[tuple[ItemKind, str, list[str]]] = [(Positive(), "positive", ["positive"])]
        for spec, name in zip(self.negatives, self.negative_names(), strict=True):
            out.append((spec, name, spec.item_names(name)))
        if self.positive_noise is not None:
            out.append((self.positive_noise, "positive", self.positive_noise.item_names("positive")))
        return out

    def folders(self) -> set[str]:
        """The folders outside the source that the recipe's negatives read (pools, recordings)."""
        return {folder for spec in self.negatives for folder in spec.folders()}

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
