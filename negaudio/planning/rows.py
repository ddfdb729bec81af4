"""A plan row: one item, every random choice resolved. Written as one JSON line, read back checked."""

from __future__ import annotations

from dataclasses import dataclass, fields

from negaudio.core.cache import CACHE_REF
from negaudio.core.errors import InputError
from negaudio.core.paths import check_id, check_relative
from negaudio.kinds import kind_class
from negaudio.manifest.schema import plain_json


@dataclass(frozen=True)
class PlanRow:
    """One item of a plan. Paths are relative to the source root; ``params`` are the kind's resolved draws."""

    item_id: str
    kind: str
    name: str
    sample_index: int
    sample_id: str
    group: str | None
    label: str
    image_classes: list[str]
    image: str
    audio: str
    regions: list[dict]
    params: dict
    seed: dict
    composite: dict | None = None

    def __post_init__(self) -> None:
        kind_class(self.kind)
        check_id(self.sample_id, "sample_id")
        check_id(self.name, "item name")
        if self.item_id != f"{self.sample_id}__{self.name}":
            raise InputError(f"item_id {self.item_id!r:.80} is not '<sample_id>__<name>'")
        for what, rel in (("image", self.image), ("audio", self.audio)):
            check_media(rel, what)
        for region in self.regions:
            if not isinstance(region, dict) or not isinstance(region.get("label"), str):
                raise InputError(f"a region of {self.sample_id!r} must be an object with a 'label'")
            if region.get("mask") is not None:
                check_media(region["mask"], "mask")
        if self.composite is not None:
            from negaudio.media.compose import check_spec

            for rel, what in check_spec(self.composite, self.sample_id):
                check_media(rel, what)

    def to_json(self) -> dict:
        data = plain_json(self)
        if self.composite is None:  # rows of other sources keep their bytes (and plan hashes)
            del data["composite"]
        return data

    @classmethod
    def from_json(cls, data: object, where: str) -> PlanRow:
        """A row from its JSON object, each field's type checked; ``where`` names the file and line."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: a plan row must be a JSON object")
        missing = [f.name for f in fields(cls) if f.name not in data and f.name not in ("group", "composite")]
        if missing:
            raise InputError(f"{where}: a plan row needs the keys {missing}")
        for name, expected in ROW_TYPES.items():
            value = data.get(name)
            if not (isinstance(value, expected) and not isinstance(value, bool)) and not (
                value is None and name == "group"
            ):
                raise InputError(f"{where}: plan row field {name!r} must be {_TYPE_NAMES[expected]}, got {value!r:.60}")
        if data.get("composite") is not None and not isinstance(data["composite"], dict):
            raise InputError(f"{where}: plan row field 'composite' must be an object, got {data['composite']!r:.60}")
        try:
            return cls(**{f.name: data.get(f.name) for f in fields(cls)})
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


ROW_TYPES: dict[str, type] = {
    "item_id": str,
    "kind": str,
    "name": str,
    "sample_index": int,
    "sample_id": str,
    "group": str,
    "label": str,
    "image_classes": list,
    "image": str,
    "audio": str,
    "regions": list,
    "params": dict,
    "seed": dict,
}
_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


def check_media(rel: str, what: str) -> str:
    """A media path of a plan: relative to the source root, or a ``cache:`` reference."""
    return check_relative(rel[len(CACHE_REF) :] if rel.startswith(CACHE_REF) else rel, what)
