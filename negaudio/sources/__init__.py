"""Source adapters. Each module defines a pydantic ``Config`` (discriminated on ``kind``) and ``open_source``.

``SOURCE_MODULES`` lists them; :mod:`negaudio.recipe.models` builds its ``source`` union from it.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from negaudio.core.regions import Region
from negaudio.sources.base import Sample, Source, SourceReport

SOURCE_MODULES = ["demo", "composite", "folder", "is3", "vggss", "s4", "ms3", "avss", "flickr", "video"]


def config_types() -> list[type]:
    """The pydantic config class of every source adapter."""
    return [import_module(f"negaudio.sources.{name}").Config for name in SOURCE_MODULES]


DEMO_FALLBACK_KINDS = {"is3"}


def uses_demo_fallback(config, root: Path | None) -> bool:
    """An IS3-shaped recipe given no dataset root builds composites from the embedded bank
    (``negaudio build is3plus``)."""
    return config.kind in DEMO_FALLBACK_KINDS and root is None and config.root is None


def open_source(config, root: Path | None = None, demo: bool = False) -> Source:
    """Open the adapter a config names; ``root`` overrides the config's root (the CLI's ``--source``).
    ``demo`` (bundled recipes only): an IS3-shaped config with no root opens the embedded bank."""
    if demo and uses_demo_fallback(config, root):
        from negaudio.sources import composite

        return composite.open_source(composite.embedded_demo(), None)
    module = import_module(f"negaudio.sources.{config.kind.replace('-', '_')}")
    return module.open_source(config, root)


__all__ = [
    "SOURCE_MODULES",
    "Region",
    "Sample",
    "Source",
    "SourceReport",
    "config_types",
    "open_source",
    "uses_demo_fallback",
]
