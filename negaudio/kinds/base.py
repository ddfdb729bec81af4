"""What an item kind is: one class owning its recipe model, its plan-time draw and its render-time signal.

A subclass registers itself under the value of its ``kind`` field when it is defined; every module of
:mod:`negaudio.kinds` is imported by the package, so adding a kind means adding one module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import field_validator

from negaudio.core.errors import InputError
from negaudio.core.model import Strict, check_slug

POSITIVE = "positive"
NOISY_POSITIVE = "noisy_positive"
NEGATIVE = "negative"
Role = Literal["positive", "noisy_positive", "negative"]

REGISTRY: dict[str, type[ItemKind]] = {}


def item_seed(seed: int, key: str) -> dict:
    """The recorded seed of one item: the recipe seed and a spawn key derived from its stable key."""
    digest = hashlib.sha256(key.encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return {"entropy": seed, "spawn_key": words}


def generator(seed: dict) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed["entropy"], spawn_key=seed["spawn_key"])))


def draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63 - 1))


@dataclass(frozen=True)
class Drawn:
    """One planned item of a kind: its name (the item-id suffix), resolved parameters and recorded seed."""

    name: str
    params: dict
    seed: dict


@dataclass
class PlanContext:
    """What a draw may consult: the recipe seed, every sample of the source, and pools built once per plan."""

    seed: int
    samples: list
    cache: dict = field(default_factory=dict)

    def memo(self, key: Any, make):
        """``make()``, computed once per plan for ``key`` (clip pools, folder listings)."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


@dataclass(frozen=True)
class Signal:
    """What rendering one item may use: the sample's positive waveform [C, N], the audio spec, the source root."""

    positive: np.ndarray
    sample_rate: int
    source_root: Path

    @property
    def shape(self) -> tuple[int, int]:
        return self.positive.shape


class ItemKind(Strict):
    """Base of every item kind. Subclasses declare ``kind: Literal["..."]`` and a ``role``."""

    role: ClassVar[Role] = NEGATIVE

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field_ = cls.model_fields.get("kind")
        if field_ is not None:
            (name,) = get_args(field_.annotation)
            if name in REGISTRY and REGISTRY[name].__qualname__ != cls.__qualname__:
                raise TypeError(f"item kind {name!r} is defined twice ({REGISTRY[name]} and {cls})")
            REGISTRY[name] = cls

    def default_name(self) -> str:
        return self.kind  # type: ignore[attr-defined]

    def item_names(self, name: str) -> list[str]:
        """The names of the items this entry makes per sample (one, unless a kind draws several)."""
        return [name]

    def draw(self, name: str, sample, plan: PlanContext) -> list[Drawn]:
        """Plan time: resolve every random choice of this entry for one sample (default: one item)."""
        seed = item_seed(plan.seed, f"{sample.sample_id}/{name}")
        return [Drawn(name, self.params(sample, generator(seed), plan), seed)]

    def params(self, sample, rng: np.random.Generator, plan: PlanContext) -> dict:
        """The resolved parameters of a single-item kind (``heard_label`` included)."""
        raise NotImplementedError

    def folders(self) -> list[str]:
        """Folders outside the source root this recipe entry reads from (pools, recordings)."""
        return []

    @classmethod
    def reads(cls, params: dict) -> list[tuple[str | None, str]]:
        """Files this item reads besides its sample's image, audio and masks, as (folder, relative path);
        folder None is the source root, any other must be one of the recipe's :meth:`folders`."""
        return []

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        """Render time: the item's waveform [C, N] and the facts rendering measured or applied."""
        raise NotImplementedError


class Negative(ItemKind):
    """A negative listed in a recipe's ``negatives``: named by ``name`` or by its parameters."""

    name: str | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return check_slug(value)


def kinds_with(role: Role) -> list[str]:
    """The registered kinds of one role, in registration order."""
    return [name for name, cls in REGISTRY.items() if cls.role == role]


def role_of(kind: str) -> Role | None:
    cls = REGISTRY.get(kind)
    return None if cls is None else cls.role


def kind_class(kind: str) -> type[ItemKind]:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise InputError(f"unknown item kind {kind!r:.40} (known: {', '.join(REGISTRY)})") from None
