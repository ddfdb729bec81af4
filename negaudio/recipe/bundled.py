"""The recipes and canonical plans shipped with negaudio (the repository's ``recipes/`` and ``manifests/``).

They are package data, ``negaudio/_recipes`` and ``negaudio/_manifests``: copies inside a wheel, symlinks to the
top-level folders in a checkout (editable install).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.planning.planfile import read_plan

RECIPE_SUFFIXES = (".yaml", ".yml", ".toml")


def _shipped(folder: str) -> Path:
    """The real folder behind the package data ``negaudio/<folder>``."""
    return Path(resources.files("negaudio") / folder).resolve()


def recipes_dir() -> Path:
    return _shipped("_recipes")


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().iterdir() if p.suffix in RECIPE_SUFFIXES)


def resolve_recipe(spec: str) -> tuple[Path, bool]:
    """A recipe file, or the name of a bundled recipe; returns (path, whether it is bundled)."""
    path = Path(spec)
    if path.is_file():
        return path, False
    for suffix in RECIPE_SUFFIXES:
        candidate = recipes_dir() / f"{spec}{suffix}"
        if candidate.is_file():
            return candidate, True
    raise InputError(f"{spec}: no such recipe file, nor a bundled recipe (bundled: {', '.join(recipe_names())})")


def canonical_plan(name: str, version: str, recipe_sha256: str) -> Path | None:
    """The committed plan of a bundled recipe, if one exists for exactly this recipe (same sha256)."""
    path = _shipped("_manifests") / name / version / "plan.jsonl.gz"
    if not path.is_file():
        return None
    header, rows = read_plan(path)
    rows.close()
    return path if header["recipe_sha256"] == recipe_sha256 else None


def annotation_mismatch(header: dict, source_root: Path) -> str | None:
    """A warning when ``source_root`` holds an annotation file that differs from the plan's official one."""
    official = header["source"].get("annotations")
    if not official:
        return None
    for candidate in (source_root / official["file"], source_root / "metadata" / official["file"]):
        if candidate.is_file():
            if hashlib.sha256(candidate.read_bytes()).hexdigest() != official["sha256"]:
                return (
                    f"{candidate} differs from the official annotations the canonical plan was made from "
                    f"(sha256 {official['sha256'][:12]}...): it is not used; pass --no-canonical to plan from it"
                )
            return None
    return None
