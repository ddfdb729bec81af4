"""Versioned manifests: the record schema, the merge of shard records, ``build.json``, the lazy reader,
and verification of a build against its hashes."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from negaudio import SCHEMA_VERSION, __version__
from negaudio.core.errors import InputError

MANIFEST = "manifest.jsonl"
BUILD_INFO = "build.json"
FAILURES = "failures.jsonl"
KEY_PACKAGES = ("numpy", "soundfile", "soxr", "pillow", "pyloudnorm", "pycocotools", "pydantic")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudioRef(Record):
    path: str
    format: str
    sample_rate: int
    channels: int
    num_samples: int
    duration_s: float
    pcm_sha256: str
    rms_dbfs: float | None
    peak_dbfs: float | None
    lufs: float | None = None


class ImageRef(Record):
    path: str
    width: int
    height: int
    sha256: str


class Rle(Record):
    size: list[int]
    counts: str


class MaskRef(Record):
    path: str
    width: int
    height: int
    sha256: str
    area: int
    scale: int = 255
    rle: Rle | None = None


class RegionRef(Record):
    label: str
    box: list[float] | None
    weight: float


class SourceRef(Record):
    image: str
    audio: str
    clip_audio: str | None


class ItemSeed(Record):
    entropy: int
    spawn_key: list[int]


class ManifestRecord(Record):
    """One rendered item. Paths are relative to the build root; boxes are in pixels of the stored image."""

    schema_version: str
    item_id: str
    kind: str
    name: str
    sample_id: str
    group: str | None
    label: str
    heard_label: str | None
    image_classes: list[str]
    source: SourceRef
    params: dict
    rendered: dict
    seed: ItemSeed
    audio: AudioRef
    image: ImageRef
    mask: MaskRef | None
    regions: list[RegionRef]
    item_sha256: str


def manifest_json_schema() -> dict:
    return ManifestRecord.model_json_schema()


def dependency_versions() -> dict:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    import soundfile

    versions["libsndfile"] = soundfile.__libsndfile_version__
    return versions


def merge(
    out_dir: Path,
    shard_files: list[Path],
    header: dict,
    extra_failures: list[dict],
    plan_sha256: str,
    missing: dict | None = None,
) -> dict:
    """Concatenate shard records in shard order into ``manifest.jsonl``; write failures and ``build.json``."""
    counts: Counter = Counter()
    build_hash = hashlib.sha256()
    failures = list(extra_failures)
    tmp = out_dir / (MANIFEST + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for path in shard_files:
            with path.open(encoding="utf-8") as fh:
                failures.extend(json.loads(fh.readline())["failures"])
                for line in fh:
                    record = json.loads(line)
                    counts[record["kind"]] += 1
                    build_hash.update(f"{record['item_id']}\t{record['item_sha256']}\n".encode())
                    out.write(line)
    tmp.replace(out_dir / MANIFEST)
    _write_jsonl(out_dir / FAILURES, failures)
    recipe = header["recipe"]
    info = {
        "schema_version": SCHEMA_VERSION,
        "dataset": {
            "name": recipe["name"],
            "version": recipe["version"],
            "description": recipe["description"],
        },
        "negaudio_version": __version__,
        "dependencies": dependency_versions(),
        "recipe_sha256": header["recipe_sha256"],
        "plan_sha256": plan_sha256,
        "seed": recipe["seed"],
        "source": header["source"],
        "limit": header.get("limit"),
        "counts": dict(sorted(counts.items())),
        "items": sum(counts.values()),
        "failures": len(failures),
        "partial": bool(failures or missing),
        "missing": missing or {},
        "content_sha256": build_hash.hexdigest(),
    }
    _write_json(out_dir / BUILD_INFO, info)
    return info


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    tmp.replace(path)


class Build:
    """A rendered build, read lazily: ``info`` (build.json) and iteration over typed records."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        info = self.root / BUILD_INFO
        if not info.is_file():
            raise InputError(f"{self.root}: not a finished negaudio build ({BUILD_INFO} not found)")
        try:
            self.info = json.loads(info.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{info}: not valid JSON ({exc}); the build is damaged") from None
        self.manifest = next((p for p in (self.root / MANIFEST, self.root / (MANIFEST + ".gz")) if p.is_file()), None)
        if self.manifest is None:
            raise InputError(f"{self.root}: {MANIFEST} not found")

    def __iter__(self) -> Iterator[ManifestRecord]:
        opener = gzip.open if self.manifest.suffix == ".gz" else open
        with opener(self.manifest, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                try:
                    yield ManifestRecord.model_validate_json(line)
                except ValueError as exc:
                    raise InputError(f"{self.manifest}:{line_no}: invalid manifest row ({exc})") from None

    def __len__(self) -> int:
        return int(self.info["items"])

    def path(self, rel: str) -> Path:
        return self.root / rel

    def load_audio(self, record: ManifestRecord):
        """The item's audio as float32 [channels, samples] (needs soundfile)."""
        import soundfile as sf

        data, _ = sf.read(self.path(record.audio.path), dtype="float32", always_2d=True)
        return data.T

    def load_mask(self, record: ManifestRecord):
        """The ground-truth map as float32 [H, W] in [0, 1], or None when the item has no regions."""
        if record.mask is None:
            return None
        from negaudio.media.masks import read_mask

        return read_mask(self.path(record.mask.path), record.mask.scale)


def verify(root: Path) -> list[str]:
    """Recompute every hash of a build; return one problem per missing or altered file (empty: all good)."""
    from negaudio.media.audio import pcm_sha256_of_file
    from negaudio.media.masks import mask_file_sha256
    from negaudio.rendering.render import item_sha256

    build = Build(root)
    problems: list[str] = []
    seen: set[str] = set()
    build_hash = hashlib.sha256()
    for record in build:
        build_hash.update(f"{record.item_id}\t{record.item_sha256}\n".encode())
        if item_sha256(record.audio.pcm_sha256, record.image.sha256, record.mask and record.mask.sha256) != (
            record.item_sha256
        ):
            problems.append(f"altered: {MANIFEST} (item {record.item_id}: its hashes do not give its item_sha256)")
        checks = [
            (
                record.audio.path,
                record.audio.pcm_sha256,
                lambda p, r=record: pcm_sha256_of_file(p, r.audio.format),
            )
        ]
        checks.append((record.image.path, record.image.sha256, lambda p: hashlib.sha256(p.read_bytes()).hexdigest()))
        if record.mask is not None:
            checks.append((record.mask.path, record.mask.sha256, mask_file_sha256))
        for rel, expected, compute in checks:
            if rel in seen:
                continue
            seen.add(rel)
            path = build.path(rel)
            if not path.is_file():
                problems.append(f"missing: {rel} (item {record.item_id})")
                continue
            try:
                actual = compute(path)
            except Exception as exc:  # an unreadable file is an altered file
                problems.append(f"unreadable: {rel} ({exc})")
                continue
            if actual != expected:
                problems.append(f"altered: {rel} (item {record.item_id})")
    if build_hash.hexdigest() != build.info.get("content_sha256"):
        problems.append(f"altered: {MANIFEST} (its items do not match content_sha256 of {BUILD_INFO})")
    return problems


def summarize(root: Path) -> list[dict]:
    """Per-kind counts, durations and levels of a build (what ``negaudio inspect`` prints)."""
    stats: dict[str, dict] = {}
    for record in Build(root):
        s = stats.setdefault(
            record.name, {"kind": record.kind, "items": 0, "seconds": 0.0, "rms": [], "digital_silence": 0}
        )
        s["items"] += 1
        s["seconds"] += record.audio.duration_s
        if record.audio.rms_dbfs is None:
            s["digital_silence"] += 1
        else:
            s["rms"].append(record.audio.rms_dbfs)
    rows = []
    for name, s in stats.items():
        rms = sorted(s["rms"])
        rows.append(
            {
                "name": name,
                "kind": s["kind"],
                "items": s["items"],
                "mean_duration_s": s["seconds"] / s["items"],
                "rms_dbfs_median": rms[len(rms) // 2] if rms else None,
                "rms_dbfs_min": rms[0] if rms else None,
                "rms_dbfs_max": rms[-1] if rms else None,
                "digital_silence": s["digital_silence"],
            }
        )
    return rows
