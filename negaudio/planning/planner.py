"""Recipe + source -> plan rows. Every random choice is resolved here, once, and written down.

Each item's generator comes from ``SeedSequence(recipe seed, spawn_key=words(sha256(sample_id/item name)))``:
no global RNG, no dependence on order, worker count or the other items of the recipe.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from negaudio import SCHEMA_VERSION, __version__
from negaudio.core.errors import InputError, SampleError
from negaudio.recipe.models import (
    FolderPool,
    Mismatched,
    Noise,
    Offscreen,
    Recipe,
    Recording,
    Silence,
)
from negaudio.sources import Sample, Source

PLAN_FORMAT = 1
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


def item_seed(seed: int, key: str) -> dict:
    """The recorded seed of one item: the recipe seed and a spawn key derived from its stable key."""
    digest = hashlib.sha256(key.encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return {"entropy": seed, "spawn_key": words}


def generator(seed: dict) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed["entropy"], spawn_key=seed["spawn_key"])))


def draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63 - 1))


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

    def draw(self, rng: np.random.Generator, exclude: set[str], count: int) -> list[tuple[str, str, str]]:
        """``count`` clips of distinct classes outside ``exclude``: a class uniformly, then a clip in it."""
        allowed = [c for c in self.by_class if c not in exclude and not self.heard[c] & exclude]
        if len(allowed) < count:
            raise ValueError(
                f"no off-screen candidate: the pool ({self.origin}) has {len(allowed)} class(es) outside "
                f"the image's classes {sorted(exclude)}, {count} needed"
            )
        picks = rng.choice(len(allowed), size=count, replace=False)
        out = []
        for k in picks:
            label = allowed[int(k)]
            clip_id, audio = self.by_class[label][int(rng.integers(len(self.by_class[label])))]
            out.append((clip_id, audio, label))
        return out


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
        raise InputError(f"{root}: the off-screen pool holds no audio clips")
    return ClipPool(clips, str(root))


def recordings(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise InputError(f"{folder}: recordings folder not found")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no .wav, .flac or .ogg recordings found")
    return files


OFFSET_FRACTION = {"start": 0.0, "center": 0.5}


def offset_fraction(policy: str, rng: np.random.Generator) -> float:
    """Where a clip window starts, as a fraction of the room left: 0 = start, 0.5 = centre, random = U[0,1)."""
    return OFFSET_FRACTION[policy] if policy in OFFSET_FRACTION else float(rng.random())


def clip_params(pool: str, clip_id: str, audio: str, label: str, offset: str, rng: np.random.Generator) -> dict:
    """The resolved parameters of an item that plays a drawn clip (off-screen or mismatched)."""
    return {
        "pool": pool,
        "clip_id": clip_id,
        "clip_audio": audio,
        "heard_label": label,
        "offset": offset,
        "offset_fraction": offset_fraction(offset, rng),
    }


def sample_rows(recipe: Recipe, sample: Sample, pools: dict, index: int) -> list[dict]:
    """The plan rows of one sample: its positive, each negative, and the noisy positives."""
    base = {
        "sample_index": index,
        "sample_id": sample.sample_id,
        "group": sample.group,
        "label": sample.label,
        "image_classes": list(sample.image_classes),
        "image": sample.image,
        "audio": sample.audio,
        "regions": [asdict(r) for r in sample.regions],
    }

    def row(name: str, kind: str, params: dict, seed: dict) -> dict:
        return {
            "item_id": f"{sample.sample_id}__{name}",
            "kind": kind,
            "name": name,
            **base,
            "params": params,
            "seed": seed,
        }

    rows = [row("positive", "positive", {"heard_label": sample.label}, item_seed(recipe.seed, sample.sample_id))]
    exclude = set(sample.image_classes)
    for spec, name in zip(recipe.negatives, recipe.negative_names(), strict=True):
        seed = item_seed(recipe.seed, f"{sample.sample_id}/{name}")
        rng = generator(seed)
        if isinstance(spec, Silence):
            params = {"dither_dbfs": spec.dither_dbfs, "noise_seed": draw_seed(rng), "heard_label": None}
            rows.append(row(name, "silence", params, seed))
        elif isinstance(spec, Noise):
            params = {
                "color": spec.color,
                "level": spec.level.model_dump(),
                "clip": spec.clip,
                "noise_seed": draw_seed(rng),
                "heard_label": None,
            }
            rows.append(row(name, "noise", params, seed))
        elif isinstance(spec, Offscreen):
            pool = pools[name]
            try:
                ((clip_id, audio, label),) = pool.draw(rng, exclude, 1)
            except ValueError as exc:
                raise SampleError(sample.sample_id, str(exc)) from None
            pool_name = "same" if spec.pool == "same" else str(spec.pool.folder)
            params = clip_params(pool_name, clip_id, audio, label, spec.offset, rng)
            rows.append(row(name, "offscreen", params, seed))
        elif isinstance(spec, Mismatched):
            try:
                draws = pools[name].draw(rng, exclude | {sample.label}, spec.count)
            except ValueError as exc:
                raise SampleError(sample.sample_id, str(exc)) from None
            for item, (clip_id, audio, label) in zip(spec.item_names(name), draws, strict=True):
                params = clip_params("same", clip_id, audio, label, spec.offset, rng)
                rows.append(row(item, "mismatched", params, seed))
        elif isinstance(spec, Recording):
            files = pools[name]
            params = {
                "folder": str(spec.folder),
                "clip_audio": files[int(rng.integers(len(files)))],
                "offset": spec.offset,
                "offset_fraction": offset_fraction(spec.offset, rng),
                "level": None if spec.level is None else spec.level.model_dump(),
                "heard_label": None,
            }
            rows.append(row(name, "recording", params, seed))
    if recipe.positive_noise is not None:
        spec = recipe.positive_noise
        for snr, name in zip(spec.snr_db, spec.item_names(), strict=True):
            seed = item_seed(recipe.seed, f"{sample.sample_id}/{name}")
            params = {
                "color": spec.color,
                "snr_db": snr,
                "clip": spec.clip,
                "noise_seed": draw_seed(generator(seed)),
                "heard_label": sample.label,
            }
            rows.append(row(name, "noisy_positive", params, seed))
    return rows


def make_pools(recipe: Recipe, samples: list[Sample]) -> dict:
    same = None
    pools: dict = {}
    for spec, name in zip(recipe.negatives, recipe.negative_names(), strict=True):
        if isinstance(spec, Offscreen | Mismatched) and (isinstance(spec, Mismatched) or spec.pool == "same"):
            same = same or ClipPool(
                [(s.sample_id, s.audio, s.label, s.audio_classes) for s in samples], "the source's own clips"
            )
            pools[name] = same
        elif isinstance(spec, Offscreen):
            pools[name] = folder_pool(spec.pool)
        elif isinstance(spec, Recording):
            pools[name] = recordings(spec.folder)
    return pools


def plan_header(recipe: Recipe, source: Source, limit: int | None) -> dict:
    return {
        "negaudio_plan": PLAN_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "negaudio_version": __version__,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_sha256": recipe.sha256(),
        "source": {"kind": source.name, "report": asdict(source.report)},
        "limit": limit,
    }


def make_plan(
    recipe: Recipe, source: Source, limit: int | None = None, on_error: str = "fail"
) -> tuple[dict, Iterator[dict], list[dict]]:
    """Resolve a recipe against a source: (header, rows in sample order, failures).

    With ``on_error="skip"`` a sample whose draws cannot be made is left out and listed in the failures.
    """
    samples = list(source.samples())
    if not samples:
        raise InputError(f"{source.root}: the source holds no samples")
    pools = make_pools(recipe, samples)
    selected = samples if limit is None else samples[:limit]
    failures: list[dict] = []

    def rows() -> Iterator[dict]:
        for index, sample in enumerate(selected):
            try:
                yield from sample_rows(recipe, sample, pools, index)
            except SampleError as exc:
                if on_error != "skip":
                    raise
                failures.append({"sample_id": exc.sample_id, "stage": "plan", "error": exc.reason})

    return plan_header(recipe, source, limit), rows(), failures


def write_plan(path: Path, header: dict, rows) -> str:
    """Write a plan as JSONL (header line, then one row per item), atomically; return its sha256."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with _open_text(tmp, "w", gz=path.suffix == ".gz") as fh:
        for obj in _with_header(header, rows):
            line = json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"
            digest.update(line.encode())
            fh.write(line)
    tmp.replace(path)
    return digest.hexdigest()


def _with_header(header: dict, rows) -> Iterator[dict]:
    yield header
    yield from rows


HEADER_KEYS = {"negaudio_plan", "recipe", "recipe_sha256", "source"}
ROW_KEYS = {
    "item_id",
    "kind",
    "name",
    "sample_index",
    "sample_id",
    "label",
    "image_classes",
    "image",
    "audio",
    "regions",
    "params",
    "seed",
}
UNREADABLE = (OSError, EOFError, UnicodeDecodeError)  # a corrupt gzip stream, a truncated file, binary data


def read_plan(path: Path) -> tuple[dict, Iterator[dict]]:
    """A plan file's header and a lazy iterator over its rows, each checked for the keys rendering needs."""
    if not path.is_file():
        raise InputError(f"{path}: plan file not found")
    fh = _open_text(path, "r", gz=path.suffix == ".gz")
    try:
        header = json.loads(fh.readline())
    except (*UNREADABLE, json.JSONDecodeError) as exc:
        fh.close()
        raise InputError(f"{path}:1: not a negaudio plan ({exc})") from None
    if not isinstance(header, dict) or header.get("negaudio_plan") != PLAN_FORMAT or HEADER_KEYS - header.keys():
        fh.close()
        raise InputError(f"{path}:1: not a negaudio plan of format {PLAN_FORMAT} (header keys {sorted(HEADER_KEYS)})")

    def rows() -> Iterator[dict]:
        with fh:
            line_no = 1
            try:
                for line_no, text in enumerate(fh, start=2):
                    yield _plan_row(text, f"{path}:{line_no}")
            except UNREADABLE as exc:  # raised while reading the line after line_no
                raise InputError(f"{path}:{line_no + 1}: unreadable plan ({exc})") from None

    return header, rows()


def _plan_row(text: str, where: str) -> dict:
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: invalid plan row ({exc.msg})") from None
    if not isinstance(row, dict) or ROW_KEYS - row.keys():
        raise InputError(f"{where}: a plan row needs the keys {sorted(ROW_KEYS)}")
    return row


def _open_text(path: Path, mode: str, gz: bool):
    """A text file, gzip-compressed when ``gz`` (with a zero mtime, so equal plans give equal bytes)."""
    if not gz:
        return path.open(mode, encoding="utf-8")
    raw = gzip.GzipFile(path, mode + "b", mtime=0) if mode == "w" else gzip.open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8")
