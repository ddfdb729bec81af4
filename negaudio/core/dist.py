"""One vocabulary for random recipe parameters, resolved once at plan time from an item's own generator.

A value is a constant (a plain number or string, or ``{const: v}``), ``{choice: [a, b, ...]}`` (uniform, or
with ``weights``), ``{uniform: [lo, hi]}``, ``{normal: [mean, std]}`` or ``{truncnorm: [mean, std, lo, hi]}``:
the distribution tuples of Scaper, written as YAML mappings. Nothing here holds state: :func:`draw` takes the
generator of the item that is being planned.
"""

from __future__ import annotations

from typing import Union

import numpy as np
from pydantic import Field, model_validator

from negaudio.core.model import Strict

Scalar = Union[float, int, str, bool]  # noqa: UP007


class Const(Strict):
    const: Scalar


class Choice(Strict):
    choice: list[Scalar] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        w = self.weights
        if w is not None and (len(w) != len(self.choice) or min(w) < 0 or sum(w) <= 0):
            raise ValueError("weights must be as many as the choices, non-negative, not all zero")
        return self


class Uniform(Strict):
    uniform: tuple[float, float]

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.uniform[0] > self.uniform[1]:
            raise ValueError("uniform: [lo, hi] needs lo <= hi")
        return self


class Normal(Strict):
    normal: tuple[float, float]

    @model_validator(mode="after")
    def _std(self) -> Normal:
        if self.normal[1] < 0:
            raise ValueError("normal: [mean, std] needs std >= 0")
        return self


class TruncNorm(Strict):
    truncnorm: tuple[float, float, float, float]

    @model_validator(mode="after")
    def _bounds(self) -> TruncNorm:
        _, std, lo, hi = self.truncnorm
        if std < 0 or lo > hi:
            raise ValueError("truncnorm: [mean, std, lo, hi] needs std >= 0 and lo <= hi")
        return self


Dist = Union[float, int, str, Const, Choice, Uniform, Normal, TruncNorm]  # noqa: UP007
NAMES = ("const", "choice", "uniform", "normal", "truncnorm")


def draw(dist: Dist, rng: np.random.Generator):
    """One value of ``dist`` from ``rng`` (constants consume no random numbers)."""
    if isinstance(dist, Const):
        return dist.const
    if isinstance(dist, Choice):
        if len(dist.choice) == 1:
            return dist.choice[0]
        p = None if dist.weights is None else np.asarray(dist.weights, dtype=float) / sum(dist.weights)
        return dist.choice[int(rng.choice(len(dist.choice), p=p))]
    if isinstance(dist, Uniform):
        lo, hi = dist.uniform
        return float(lo + (hi - lo) * rng.random())
    if isinstance(dist, Normal):
        return float(rng.normal(*dist.normal))
    if isinstance(dist, TruncNorm):
        mean, std, lo, hi = dist.truncnorm
        for _ in range(1000):  # rejection: the tails cut off are rarely far beyond a few std
            value = float(rng.normal(mean, std))
            if lo <= value <= hi:
                return value
        return float(min(max(mean, lo), hi))
    return dist


def lowest(dist: Dist) -> float | None:
    """The smallest value ``dist`` can take (None: unbounded or not numeric)."""
    if isinstance(dist, Const):
        dist = dist.const
    if isinstance(dist, Choice):
        numbers = [v for v in dist.choice if isinstance(v, int | float) and not isinstance(v, bool)]
        return min(numbers) if len(numbers) == len(dist.choice) else None
    if isinstance(dist, Uniform):
        return dist.uniform[0]
    if isinstance(dist, TruncNorm):
        return dist.truncnorm[2]
    if isinstance(dist, int | float) and not isinstance(dist, bool):
        return float(dist)
    return None


def values(dist: Dist) -> list | None:
    """Every value a discrete ``dist`` can take (None: continuous)."""
    if isinstance(dist, Const):
        return [dist.const]
    if isinstance(dist, Choice):
        return list(dist.choice)
    if isinstance(dist, int | float | str | bool):
        return [dist]
    return None
