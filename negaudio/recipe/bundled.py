"""The recipes and canonical plans shipped with negaudio (the repository's ``recipes/`` and ``manifests/``).

They are package data, ``negaudio/_recipes`` and ``negaudio/_manifests``: copies inside a wheel, symlinks to the
top-level folders in a checkout (editable install). ``recipes/NAME.yaml`` is the latest version of a bundled
recipe; earlier versions stay as ``recipes/archive/NAME@VERSION.yaml``, selected as ``NAME@VERSION``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.core.suggest import did_you_mean
from negaudio.planning.planfile import read_plan

RECIPE_SUFFIXES = (".yaml", ".yml", ".toml")
ARCHIVE = "archive"


def _shipped(folder: str) -> Path:
    """The real folder behind the package data ``negaudio/<folder>``."""
    return Path(resources.files("negaudio") / folder).resolve()


def recipes_dir() -> Path:
    return _shipped("_recipes")


def recipe_names() -> list[str]:
    """The bundled recipes, by name (each name's latest version)."""
    return sorted(p.stem for p in recipes_dir().iterdir() if p.suffix in RECIPE_SUFFIXES)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split("+")[0].split("."))


def archived_versions(name: str) -> list[str]:
    """The earlier versions of a bundled recipe kept in ``recipes/archive/``, oldest first."""
    folder = recipes_dir() / ARCHIVE
    if not folder.is_dir():
        return []
    found = [
        p.stem.split("@", 1)[1]
        for p in folder.iterdir()
        if p.suffix in RECIPE_SUFFIXES and p.stem.startswith(f"{name}@")
    ]
    return sorted(found, key=_version_key)


def resolve_recipe(spec: str) -> tuple[Path, bool]:
    """A recipe file, or a bundled recipe as ``NAME`` (its latest version) or ``NAME@VERSION``; returns (path,
    whether it is bundled)."""
    path = Path(spec)
    if path.is_file():
        return path, False
    name, _, version = spec.partition("@")
    for suffix in RECIPE_SUFFIXES:
        latest = recipes_dir() / f"{name}{suffix}"
        archived = recipes_dir() / ARCHIVE / f"{name}@{version}{suffix}"
        if latest.is_file() and (not version or version == _latest_version(latest)):
            return latest, True
        if version and archived.is_file():
            return archived, True
    if version and name in recipe_names():
        known = ", ".join(bundled_versions(name))
        raise InputError(f"{spec}: bundled recipe {name} has no version {version} (versions: {known})")
    bundled = f"bundled: {', '.join(recipe_names())}"
    if path.is_dir():
        suffixes = ", ".join(RECIPE_SUFFIXES)
        raise InputError(f"{spec}: is a folder; give a recipe file ({suffixes}) or a bundled recipe's name ({bundled})")
    raise InputError(
        f"{spec}: no such recipe file, nor a bundled recipe ({bundled}){did_you_mean(name, recipe_names())}"
    )


def _latest_version(path: Path) -> str:
    from negaudio.recipe.io import validate_file
    from negaudio.recipe.models import Recipe

    return validate_file(Recipe, path).version


def bundled_versions(name: str) -> list[str]:
    """Every version of a bundled recipe, oldest first; the last is what ``NAME`` alone selects."""
    path, _ = resolve_recipe(name)
    return [*archived_versions(name), _latest_version(path)]


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
