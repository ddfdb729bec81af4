"""Helpers shared by the benchmark adapters: roots and annotation files, id lists, directory listings.

Adapters keep boxes in the annotation's own frame and say so with ``Region.box_space`` (``(1, 1)`` for
VGG-SS's normalised boxes, ``(224, 224)`` for IS3 and AVSBench, ``(256, 256)`` for Flickr): rendering scales
them to the frame actually stored, so a plan made from the annotations alone renders against any copy.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from negaudio.core.errors import InputError

Box = tuple[float, float, float, float]


def require_root(kind: str, config_root: Path | None, root: Path | None, hint: str = "") -> Path:
    """The dataset root (``root`` overrides the recipe's), which must be an existing folder; ``hint`` is added
    to the error when there is none."""
    chosen = root or config_root
    if chosen is None:
        raise InputError(f"source.root: the {kind} source needs a root (in the recipe or with --source){hint}")
    chosen = Path(chosen)
    if not chosen.is_dir():
        raise InputError(f"{chosen}: {kind} source folder not found")
    return chosen


def find_file(root: Path, explicit: Path | None, candidates: Iterable[str], what: str) -> Path:
    """``explicit`` (absolute, or relative to ``root``) or the first candidate name present under ``root``."""
    if explicit is not None:
        path = explicit if explicit.is_absolute() else root / explicit
        if not path.is_file():
            raise InputError(f"{path}: {what} not found")
        return path
    candidates = list(candidates)
    for name in candidates:
        if (root / name).is_file():
            return root / name
    raise InputError(f"{root}: no {what} found (looked for {', '.join(candidates)})")


def read_ids(path: Path) -> list[str]:
    """The first column of a CSV/TXT id list (no header), blank lines skipped, in file order."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [row[0].strip() for row in csv.reader(fh) if row and row[0].strip()]


def files_by_name(folder: Path) -> set[str]:
    """Names of the plain files directly in ``folder`` (empty when it does not exist): one scan, no stats."""
    try:
        with os.scandir(folder) as entries:
            return {e.name for e in entries if e.is_file()}
    except FileNotFoundError:
        return set()


def clip_class(dataset: str, clip_id: str) -> str:
    """The pseudo-class of a clip from a benchmark without sound classes: only its own clip is excluded."""
    return f"{dataset}:{clip_id}"


def read_json_list(path: Path, what: str, entries: str) -> list:
    """A JSON file holding a list (an annotation list), or an InputError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of {entries} entries")
    return data
