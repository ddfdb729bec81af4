"""Drawn clips, shared by the kinds that play one (off-screen, mismatched, recording): pools of clips by class,
the window offset policy, and reading the window at render time."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_serializer

from negaudio.core.cache import resolve_media
from negaudio.core.errors import InputError
from negaudio.core.model import Strict
from negaudio.core.paths import check_relative
from negaudio.kinds.base import Negative, Signal
from negaudio.media.audio import center_crop, fit_length, load_audio

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
Offset = Literal["start", "center", "random"]
OFFSET_FRACTION = {"start": 0.0, "center": 0.5}
POOL_LAYOUTS = (
    "an index file (csv or jsonl with columns audio,label; paths relative to the folder), given as 'index'",
    "one sub-folder per class: <folder>/<class>/*.wav|flac|ogg",
)


class FolderPool(Strict):
    """Clips from a plain folder, with their class given by the index file or the sub-folder name."""

    folder: Path
    index: Path | None = None


class ClipPool:
    """Clips grouped by class, for off-screen and mismatched draws (classes and files in sorted order)."""

    def __init__(self, clips: list[tuple[str, str, str, tuple[str, ...]]], origin: str):
        self.origin = origin
        by_class: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.heard: dict[str, set[str]] = defaultdict(set)
        for clip_id, audio, label, heard in clips:
            by_class[label].append((clip_id, audio))
            self.heard[label].update(heard or (label,))
        self.by_class = {label: sorted(items) for label, items in sorted(by_class.items())}

    def _allowed(self, exclude: set[str]) -> list[str]:
        return [c for c in self.by_class if c not in exclude and not self.heard[c] & exclude]

    def draw(self, rng: np.random.Generator, exclude: set[str], count: int) -> list[tuple[str, str, str]]:
        """``count`` clips of distinct classes outside ``exclude``: a class uniformly, then a clip in it."""
        return self.draw_outside_groups(rng, exclude, exclude, count)[0]

    def draw_outside_groups(
        self, rng: np.random.Generator, exclude: set[str], widened: set[str], count: int
    ) -> tuple[list[tuple[str, str, str]], bool]:
        """``draw`` with ``widened`` ⊇ ``exclude`` (the excluded classes and their whole groups): the classes are
        drawn as ``draw`` does, then each one inside ``widened`` is redrawn uniformly among the classes outside it
        (distinct ones), before the clips are picked. A draw with no class inside ``widened`` is therefore the
        plain draw, clip and all. Returns the draws and whether any class was redrawn."""
        allowed, narrow = self._allowed(exclude), self._allowed(widened)
        if len(narrow) < count:
            what = "classes" if widened == exclude else "classes and their exclusion groups"
            raise ValueError(
                f"no off-screen candidate: the pool ({self.origin}) has {len(narrow)} class(es) outside "
                f"the image's {what} {sorted(widened)}, {count} needed"
            )
        labels = [allowed[int(k)] for k in rng.choice(len(allowed), size=count, replace=False)]
        outside = set(narrow)
        inside = [i for i, c in enumerate(labels) if c not in outside]
        if inside:
            rest = [c for c in narrow if c not in labels]
            for i, k in zip(inside, rng.choice(len(rest), size=len(inside), replace=False), strict=True):
                labels[i] = rest[int(k)]
        out = []
        for label in labels:
            clip_id, audio = self.by_class[label][int(rng.integers(len(self.by_class[label])))]
            out.append((clip_id, audio, label))
        return out, bool(inside)


DATA = Path(__file__).parent / "data"
BUNDLED_GROUPS = {
    "vggsound-supercategories": DATA / "vggsound-supercategories.csv",
    "avsbench-is3-supercategories": DATA / "avsbench-is3-supercategories.csv",
}
"""Class -> group maps shipped with negaudio, by the name a recipe gives in ``exclude_groups``."""
EXCLUDE_GROUPS_HELP = (
    "Exclude whole groups: every class sharing a group with a visible class (mismatched: or the sample's own) is "
    "left out of the draw. A bundled map ('vggsound-supercategories') or a csv (class,group) / JSON file. "
    "Default: only the classes themselves."
)


class ExclusionGroups:
    """A class -> group map: a draw that excludes a class also excludes every class of its group."""

    def __init__(self, group_of: dict[str, str], origin: str):
        self.origin = origin
        self.group_of = dict(group_of)
        self.members: dict[str, set[str]] = defaultdict(set)
        for label, group in self.group_of.items():
            self.members[group].add(label)

    def expand(self, classes) -> set[str]:
        """``classes`` and every class sharing a group with one of them (classes without a group stay alone)."""
        out = set(classes)
        for label in classes:
            if label in self.group_of:
                out |= self.members[self.group_of[label]]
        return out


class GroupedDraw(Negative):
    """A negative drawing clips of other classes, with optional exclusion groups (``exclude_groups``)."""

    exclude_groups: str | None = Field(None, description=EXCLUDE_GROUPS_HELP)

    @model_serializer(mode="wrap")
    def _omit_unset_groups(self, handler):
        # without groups, the recipe dumps (plan headers) stay those of before the field existed
        data = handler(self)
        if self.exclude_groups is None and isinstance(data, dict):
            data.pop("exclude_groups", None)
        return data


def load_groups(spec: str) -> ExclusionGroups:
    """A bundled map by name (``vggsound-supercategories``) or a user file: csv with columns ``class,group``, or
    JSON {class: group}."""
    path = BUNDLED_GROUPS.get(spec, Path(spec))
    if not path.is_file():
        known = ", ".join(BUNDLED_GROUPS)
        raise InputError(f"exclude_groups {spec!r}: neither a bundled map ({known}) nor a file")
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise InputError(f"{path}: expected a JSON object class -> group")
        return ExclusionGroups(data, spec)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"class", "group"} <= set(rows[0]):
        raise InputError(f"{path}: expected a csv with columns class,group")
    return ExclusionGroups({r["class"].strip(): r["group"].strip() for r in rows}, spec)


def excluded_draw(pool: ClipPool, rng: np.random.Generator, exclude: set[str], count: int, groups: str | None, plan):
    """``pool.draw`` excluding ``exclude``, and with ``groups`` (a map's name) every class of their groups: returns
    the draws and, with groups, whether the groups changed them (``ClipPool.draw_outside_groups``), else None."""
    if groups is None:
        return pool.draw(rng, exclude, count), None
    mapping = plan.memo(("exclude-groups", groups), lambda: load_groups(groups))
    return pool.draw_outside_groups(rng, exclude, mapping.expand(exclude), count)


def same_pool(samples: list) -> ClipPool:
    """The source's own clips, by the class of each sample's sound (mixed samples left out: their audio file is
    not what they sound like)."""
    clips = [(s.sample_id, s.audio, s.label, s.audio_classes) for s in samples if not s.mixed]
    return ClipPool(clips, "the source's own clips")


def folder_pool(spec: FolderPool) -> ClipPool:
    """A pool from a folder: an index (csv/jsonl with ``audio,label``) or one sub-folder per class."""
    root = spec.folder
    if not root.is_dir():
        raise InputError(f"{root}: off-screen pool folder not found")
    clips = []
    if spec.index is not None:
        index = root / spec.index
        if not index.is_file():
            raise InputError(f"{index}: pool index not found")
        with index.open(encoding="utf-8", newline="") as fh:
            rows = csv.DictReader(fh) if index.suffix == ".csv" else (json.loads(t) for t in fh if t.strip())
            for n, row in enumerate(rows, start=1):
                if not row.get("audio") or not row.get("label"):
                    raise InputError(f"{index}: row {n} needs 'audio' and 'label'")
                clips.append((Path(row["audio"]).stem, row["audio"], row["label"], ()))
    else:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in AUDIO_SUFFIXES and path.parent != root:
                rel = path.relative_to(root).as_posix()
                clips.append((rel, rel, path.parent.name, ()))
    if not clips:
        flat = any(p.suffix.lower() in AUDIO_SUFFIXES for p in root.iterdir())
        why = "its clips have no class" if flat else "it holds no audio clips"
        layouts = "".join(f"\n  - {layout}" for layout in POOL_LAYOUTS)
        raise InputError(f"{root}: cannot use this folder as a clip pool: {why}. Accepted layouts:{layouts}")
    return ClipPool(clips, str(root))


def audio_files(folder: Path) -> list[str]:
    """Every .wav, .flac and .ogg file under ``folder``, relative and sorted."""
    if not folder.is_dir():
        raise InputError(f"{folder}: recordings folder not found")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no .wav, .flac or .ogg recordings found")
    return files


def offset_fraction(policy: str, rng: np.random.Generator) -> float:
    """Where a clip window starts, as a fraction of the room left: 0 = start, 0.5 = centre, random = U[0,1)."""
    return OFFSET_FRACTION[policy] if policy in OFFSET_FRACTION else float(rng.random())


def group_params(groups: str | None, changed: bool | None) -> dict:
    """Recorded with a draw made under exclusion groups: the map's name and whether the groups changed the draw."""
    return {} if groups is None else {"exclude_groups": groups, "group_changed": bool(changed)}


def clip_params(pool: str, clip_id: str, audio: str, label: str, offset: str, rng: np.random.Generator) -> dict:
    """The resolved parameters of an item that plays a drawn clip of a pool (off-screen or mismatched)."""
    return {
        "pool": pool,
        "clip_id": clip_id,
        "clip_audio": audio,
        "heard_label": label,
        "offset": offset,
        "offset_fraction": offset_fraction(offset, rng),
    }


def window(signal: Signal, path: Path, policy: str, fraction: float) -> tuple[np.ndarray, dict]:
    """As many samples of a clip as the positive has: the centred window for ``center`` (as positives are
    centre-cropped), else the window starting at ``fraction`` of the room left; short clips are tiled."""
    channels, n = signal.shape
    clip = load_audio(path, signal.sample_rate, channels)
    room = clip.shape[1] - n
    if policy == "center":
        wave, offset = center_crop(clip, n), max(0, room // 2)
    else:
        offset = round(fraction * max(0, room))
        wave = fit_length(clip, n, offset)
    return wave, {"offset_s": offset / signal.sample_rate}


def locate(source_root: Path, folder: str | None, rel: str) -> Path:
    """A drawn clip's file: under the source root (folder None) or under a pool or recordings folder."""
    if folder is None:
        return resolve_media(source_root, rel, "clip")
    return Path(folder) / check_relative(rel, "clip")


class PoolClip:
    """What the kinds that play a clip drawn from a pool share at render time (off-screen, mismatched)."""

    @classmethod
    def reads(cls, params: dict) -> list[tuple[str | None, str]]:
        """The clip: from the source itself (``pool: same``) or from a folder pool."""
        return [(None if params["pool"] == "same" else params["pool"], params["clip_audio"])]

    @classmethod
    def render(cls, params: dict, signal: Signal) -> tuple[np.ndarray, dict]:
        """The clip's window at the recorded offset."""
        ((folder, rel),) = cls.reads(params)
        return window(signal, locate(signal.source_root, folder, rel), params["offset"], params["offset_fraction"])
