"""Item kinds. Each module defines one kind (its recipe model, plan-time draw and render-time signal);
every module here is imported, so a kind registers itself by being defined (see :mod:`negaudio.kinds.base`)."""

from __future__ import annotations

import pkgutil
from importlib import import_module

from negaudio.kinds.base import (
    NEGATIVE,
    NOISY_POSITIVE,
    POSITIVE,
    REGISTRY,
    Drawn,
    ItemKind,
    Negative,
    PlanContext,
    Signal,
    kind_class,
    kinds_with,
    role_of,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    import_module(f"{__name__}.{_module}")


def negative_classes() -> list[type[Negative]]:
    """The kinds a recipe may list under ``negatives``."""
    return [cls for cls in REGISTRY.values() if cls.role == NEGATIVE]


__all__ = [
    "NEGATIVE",
    "NOISY_POSITIVE",
    "POSITIVE",
    "REGISTRY",
    "Drawn",
    "ItemKind",
    "Negative",
    "PlanContext",
    "Signal",
    "kind_class",
    "kinds_with",
    "negative_classes",
    "role_of",
]
