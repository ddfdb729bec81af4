"""A plan row: one item, every random choice resolved. Written as one JSON line, read back checked."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from negaudio.core.errors import InputError


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

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object, where: str) -> PlanRow:
        """A row from its JSON object, each field's type checked; ``where`` names the file and line."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: a plan row must be a JSON object")
        missing = [f.name for f in fields(cls) if f.name not in data and f.name != "group"]
        if missing:
            raise InputError(f"{where}: a plan row needs the keys {missing}")
        for name, expected in ROW_TYPES.items():
            value = data.get(name)
            if not (isinstance(value, expected) and not isinstance(value, bool)) and not (
                value is None and name == "group"
            ):
                raise InputError(f"{where}: plan row field {name!r} must be {_TYPE_NAMES[expected]}, got {value!r:.60}")
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


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
