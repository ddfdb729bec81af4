"""A build as a Hugging Face Hub dataset: Parquet shards under ``data/`` and a ``README.md`` dataset card.

Written with pyarrow alone (``datasets`` needs torch and torchcodec to *encode* Audio). Every shard's schema
carries the ``huggingface`` schema metadata ``{"info": {"features": ...}}`` that ``datasets`` reads back, so
``datasets.load_dataset(DIR)`` gives ``audio`` as an Audio feature and ``image`` / ``mask`` as Image features.
One config per item name (``data/<name>/``) and ``all`` (every shard); one split, ``test``. The export of one
build is the same bytes on every run with the same pyarrow (fixed row order, no timestamps); the identity of
the data stays ``content_sha256`` of ``build.json``, which the card records. See docs/hub.md.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.core.outputs import check_output_folder
from negaudio.manifest.reader import Build
from negaudio.manifest.schema import ManifestRecord

ALL_CONFIG = "all"
SPLIT = "test"
DATA = "data"
CARD = "README.md"
DEFAULT_MAX_SHARD_BYTES = 500 * 2**20  # push_to_hub's default shard size
ROW_GROUP_ROWS = 100
COMPRESSION = "zstd"
MARKER_TAG = "negaudio"

# The features of one row, in the serialized form of ``datasets.Features.to_dict()`` (checked against the
# installed ``datasets`` by the tests). Columns are in this order.
_STRING = {"dtype": "string", "_type": "Value"}
_INT64 = {"dtype": "int64", "_type": "Value"}
_INT32 = {"dtype": "int32", "_type": "Value"}
_FLOAT64 = {"dtype": "float64", "_type": "Value"}
_BOOL = {"dtype": "bool", "_type": "Value"}


def _list(feature: dict) -> dict:
    return {"feature": feature, "_type": "List"}


FEATURES: dict[str, dict] = {
    "item_id": _STRING,
    "sample_id": _STRING,
    "group": _STRING,
    "kind": _STRING,
    "name": _STRING,
    "role": _STRING,
    "label": _STRING,
    "heard_label": _STRING,
    "image_classes": _list(_STRING),
    "audio": {"_type": "Audio"},
    "image": {"_type": "Image"},
    "mask": {"_type": "Image"},
    "regions": _list({"label": _STRING, "box": _list(_FLOAT64), "weight": _FLOAT64}),
    "sample_rate": _INT32,
    "channels": _INT32,
    "num_samples": _INT64,
    "duration_s": _FLOAT64,
    "audio_format": _STRING,
    "rms_dbfs": _FLOAT64,
    "peak_dbfs": _FLOAT64,
    "lufs": _FLOAT64,
    "width": _INT32,
    "height": _INT32,
    "mask_scale": _INT32,
    "mask_area": _INT64,
    "has_mask": _BOOL,
    "pcm_sha256": _STRING,
    "image_sha256": _STRING,
    "mask_sha256": _STRING,
    "item_sha256": _STRING,
    "seed_entropy": _INT64,
    "seed_spawn_key": _list(_INT64),
    "params": _STRING,  # JSON: the kind's resolved parameters
    "rendered": _STRING,  # JSON: what rendering measured
    "composite": _STRING,  # JSON or null: how a composite image was made
    "schema_version": _STRING,
}


def features_metadata() -> bytes:
    """The ``huggingface`` schema metadata value, as ``datasets.Features(...).arrow_schema`` writes it."""
    return json.dumps({"info": {"features": FEATURES}}).encode()


def _arrow_type(feature: dict):
    import pyarrow as pa

    kind = feature.get("_type")
    if kind in ("Audio", "Image"):
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    if kind == "List":
        return pa.list_(_arrow_type(feature["feature"]))
    if kind == "Value":
        types = {"string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64()}
        return pa.bool_() if feature["dtype"] == "bool" else types[feature["dtype"]]
    return pa.struct([(k, _arrow_type(v)) for k, v in feature.items()])  # a dict of features: a struct


def arrow_schema():
    import pyarrow as pa

    fields = [pa.field(name, _arrow_type(feature)) for name, feature in FEATURES.items()]
    return pa.schema(fields, metadata={b"huggingface": features_metadata()})


def _yaml_feature(name: str | None, feature: dict) -> dict:
    """One entry of the card's ``dataset_info.features`` (``datasets.Features._to_yaml_list`` form)."""
    entry: dict = {} if name is None else {"name": name}
    kind = feature.get("_type")
    if kind in ("Audio", "Image"):
        entry["dtype"] = kind.lower()
    elif kind == "Value":
        entry["dtype"] = feature["dtype"]
    elif kind == "List":
        inner = feature["feature"]
        if inner.get("_type") == "Value":
            entry["list"] = inner["dtype"]
        else:
            entry["list"] = [_yaml_feature(k, v) for k, v in inner.items()]
    return entry


def yaml_features() -> list[dict]:
    return [_yaml_feature(name, feature) for name, feature in FEATURES.items()]


@dataclass(frozen=True)
class ExportResult:
    output: Path
    rows: int
    configs: dict[str, int]  # item name -> rows
    shards: list[str] = field(default_factory=list)  # relative paths, in writing order
    content_sha256: str = ""


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _row(build: Build, record: ManifestRecord, role: str | None) -> dict:
    from dataclasses import asdict

    def blob(rel: str) -> dict:
        return {"bytes": build.path(rel).read_bytes(), "path": rel}

    mask = record.mask
    composite = None if record.composite is None else asdict(record.composite)
    if composite is not None and composite.get("mix") is None:
        composite.pop("mix", None)
    return {
        "item_id": record.item_id,
        "sample_id": record.sample_id,
        "group": record.group,
        "kind": record.kind,
        "name": record.name,
        "role": role,
        "label": record.label,
        "heard_label": record.heard_label,
        "image_classes": list(record.image_classes),
        "audio": blob(record.audio.path),
        "image": blob(record.image.path),
        "mask": None if mask is None else blob(mask.path),
        "regions": [{"label": r.label, "box": r.box, "weight": r.weight} for r in record.regions],
        "sample_rate": record.audio.sample_rate,
        "channels": record.audio.channels,
        "num_samples": record.audio.num_samples,
        "duration_s": record.audio.duration_s,
        "audio_format": record.audio.format,
        "rms_dbfs": record.audio.rms_dbfs,
        "peak_dbfs": record.audio.peak_dbfs,
        "lufs": record.audio.lufs,
        "width": record.image.width,
        "height": record.image.height,
        "mask_scale": None if mask is None else mask.scale,
        "mask_area": None if mask is None else mask.area,
        "has_mask": mask is not None,
        "pcm_sha256": record.audio.pcm_sha256,
        "image_sha256": record.image.sha256,
        "mask_sha256": None if mask is None else mask.sha256,
        "item_sha256": record.item_sha256,
        "seed_entropy": record.seed.entropy,
        "seed_spawn_key": list(record.seed.spawn_key),
        "params": _json(record.params),
        "rendered": _json(record.rendered),
        "composite": None if composite is None else _json(composite),
        "schema_version": record.schema_version,
    }


def _record_bytes(build: Build, record: ManifestRecord) -> int:
    paths = [record.audio.path, record.image.path] + ([record.mask.path] if record.mask else [])
    return sum(build.path(p).stat().st_size for p in paths)


def _shards(build: Build, records: list[ManifestRecord], max_bytes: int) -> list[list[ManifestRecord]]:
    """Consecutive runs of records whose media stay under ``max_bytes`` (at least one record each)."""
    shards: list[list[ManifestRecord]] = [[]]
    size = 0
    for record in records:
        n = _record_bytes(build, record)
        if shards[-1] and size + n > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(record)
        size += n
    return shards


def _check_output(build_root: Path, output: Path) -> None:
    """Refuse an output that is in a build, holds the build, is a file, or is a non-empty folder that holds
    something other than an earlier negaudio export."""
    if Path(os.path.realpath(output)) in Path(os.path.realpath(build_root)).parents:
        raise InputError(f"{output}: holds the build {build_root}; choose an output folder outside it")
    check_output_folder(output, "negaudio export", is_export)


def is_export(folder: Path) -> bool:
    """True when ``folder`` holds only what :func:`export` writes: a card tagged ``negaudio`` and ``data/``
    with Parquet shards."""
    names = {p.name for p in folder.iterdir()}
    if not names <= {CARD, DATA} or CARD not in names:
        return False
    card = (folder / CARD).read_text(encoding="utf-8", errors="replace")
    if f"- {MARKER_TAG}\n" not in card.split("\n---\n", 1)[0]:
        return False
    data = folder / DATA
    if not data.exists():
        return True
    if data.is_symlink() or not data.is_dir():
        return False
    return all(p.is_dir() or p.suffix == ".parquet" for p in data.rglob("*"))


def check_license(license: str) -> None:
    """An InputError unless ``license`` looks like a Hub licence identifier."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", license):
        raise InputError(
            f"--license {license!r}: expected a Hub licence identifier (lowercase letters, digits, '.', '-', '+'), "
            "such as cc-by-4.0, mit or other; see https://huggingface.co/docs/hub/repositories-licenses"
        )


def export(
    build_dir: str | Path,
    output: str | Path,
    *,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    license: str = "other",
    verify: bool = True,
) -> ExportResult:
    """Write the Hub layout of a finished build into ``output`` (see the module docstring). The build is
    verified first (a damaged one is refused, ``InputError``); an earlier export in ``output`` is replaced;
    nothing is left half-written (the new export is staged inside ``output`` and moved into place)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from negaudio.kinds import role_of

    build_root, output = Path(build_dir), Path(output)
    build = Build(build_root)
    _check_output(build_root, output)
    if max_shard_bytes < 1:
        raise InputError(f"max_shard_bytes must be positive (got {max_shard_bytes})")
    check_license(license)
    if verify:
        from negaudio.manifest.verify import verify as run_verify

        problems = run_verify(build_root)
        if problems:
            listed = "\n  ".join(map(str, problems[:20]))
            raise InputError(
                f"{build_root}: the build is damaged ({len(problems)} problem(s)); not exported:\n  {listed}"
            )
    by_name: dict[str, list[ManifestRecord]] = {}
    for record in build:
        by_name.setdefault(record.name, []).append(record)
    if not by_name:
        raise InputError(f"{build_root}: the build holds no items; nothing to export")
    if ALL_CONFIG in by_name:
        raise InputError(f"{build_root}: an item name is {ALL_CONFIG!r}, the name of the config of every item")
    schema = arrow_schema()
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".negaudio-export-", dir=output))
    shards_written: list[str] = []
    try:
        for name in sorted(by_name):
            shards = _shards(build, by_name[name], max_shard_bytes)
            for k, shard in enumerate(shards):
                rel = f"{DATA}/{name}/{SPLIT}-{k:05d}-of-{len(shards):05d}.parquet"
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with pq.ParquetWriter(dest, schema, compression=COMPRESSION) as writer:
                    for start in range(0, len(shard), ROW_GROUP_ROWS):
                        rows = [_row(build, r, role_of(r.kind)) for r in shard[start : start + ROW_GROUP_ROWS]]
                        writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=ROW_GROUP_ROWS)
                shards_written.append(rel)
        configs = {name: len(records) for name, records in sorted(by_name.items())}
        card = dataset_card(build, by_name, license=license)
        (staging / CARD).write_text(card, encoding="utf-8")
        for name in (DATA, CARD):
            old = output / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
            os.replace(staging / name, old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(output, ignore_errors=True)
        raise
    staging.rmdir()
    return ExportResult(
        output=output,
        rows=sum(configs.values()),
        configs=configs,
        shards=shards_written,
        content_sha256=build.info["content_sha256"],
    )


def _yaml(data) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def card_metadata(build: Build, by_name: dict[str, list[ManifestRecord]], license: str = "other") -> dict:
    """The card's YAML header: license, tags, configs (``all`` first, the default; then one per item name),
    dataset_info per config, and ``negaudio`` (name, version, hashes) for publishing checks."""
    info = build.info
    configs = [
        {
            "config_name": ALL_CONFIG,
            "data_files": [{"split": SPLIT, "path": f"{DATA}/*/{SPLIT}-*.parquet"}],
            "default": True,
        }
    ]
    configs += [
        {"config_name": name, "data_files": [{"split": SPLIT, "path": f"{DATA}/{name}/{SPLIT}-*.parquet"}]}
        for name in sorted(by_name)
    ]
    # features only: ``splits`` needs num_bytes as ``datasets`` measures them; the body states the counts
    dataset_info = [{"config_name": c["config_name"], "features": yaml_features()} for c in configs]
    return {
        "license": license,
        "pretty_name": f"{info['dataset']['name']} {info['dataset']['version']}",
        "tags": [MARKER_TAG, "audio-visual", "sound-source-localization", "negative-audio"],
        "configs": configs,
        "dataset_info": dataset_info,
        "negaudio": {
            "dataset": info["dataset"]["name"],
            "version": info["dataset"]["version"],
            "schema_version": info["schema_version"],
            "negaudio_version": info["negaudio_version"],
            "content_sha256": info["content_sha256"],
            "build_sha256": info.get("build_sha256"),
            "plan_sha256": info["plan_sha256"],
            "recipe_sha256": info["recipe_sha256"],
            "seed": info["seed"],
        },
    }


def dataset_card(build: Build, by_name: dict[str, list[ManifestRecord]], license: str = "other") -> str:
    """The README.md of the export: YAML header (:func:`card_metadata`) and a body saying what the set is, how
    it was built, its counts and how to score on it. No timestamp, no absolute path."""
    info = build.info
    meta = card_metadata(build, by_name, license)
    ds = info["dataset"]
    kinds = {name: records[0].kind for name, records in by_name.items()}
    counts = "\n".join(f"| `{name}` | {kinds[name]} | {len(records)} |" for name, records in sorted(by_name.items()))
    source = info.get("source", {}).get("kind", "?")
    partial = (
        "\nThis is a **partial** build: media were missing from the source copy it was built from "
        "(`build.json`, `missing`).\n"
        if info.get("partial")
        else ""
    )
    body = f"""
# {ds["name"]} {ds["version"]}

{ds["description"]}

A negative-audio test set for visual sound source localization, made with
[negaudio](https://pypi.org/project/negaudio/) {info["negaudio_version"]}. Every sample is an image with its
positive audio and with negatives (silence, noise, off-screen or mismatched sounds, as listed below) that share
its image and ground-truth mask: a model that listens should localize the positive and paint nothing for the
negatives.
{partial}
## How it was built

| field | value |
|---|---|
| recipe | `{ds["name"]}` {ds["version"]} (recipe sha256 `{info["recipe_sha256"]}`) |
| source adapter | `{source}` |
| seed | {info["seed"]} |
| plan sha256 | `{info["plan_sha256"]}` |
| negaudio version | {info["negaudio_version"]} (manifest schema {info["schema_version"]}) |
| content_sha256 | `{info["content_sha256"]}` |
| build_sha256 | `{info.get("build_sha256", "-")}` |

`content_sha256` is the identity of the decoded data (audio PCM, image files, mask arrays): two builds of the
same plan have the same value on every machine. The Parquet bytes may differ between pyarrow versions; the
hashes per row (`pcm_sha256`, `image_sha256`, `mask_sha256`, `item_sha256`) do not.

## Contents

{sum(len(v) for v in by_name.values())} items in one split, `{SPLIT}`. Configs: `{ALL_CONFIG}` (every item, the
default) and one per item name:

| config (item name) | kind | items |
|---|---|---|
{counts}

Columns: `audio` (Audio: the WAV/FLAC bytes), `image` and `mask` (Image; `mask` is null for items without
regions; stored value / `mask_scale` is the ground truth in [0, 1]), the manifest's fields as typed columns
(`item_id`, `sample_id`, `group`, `kind`, `name`, `role`, `label`, `heard_label`, `image_classes`, `regions`
with boxes in pixels of the stored image, levels, seeds, hashes) and `params`, `rendered`, `composite` as JSON
text.

## Loading

```python
from datasets import Audio, load_dataset
import io, soundfile as sf

ds = load_dataset("REPO_OR_FOLDER", "{ALL_CONFIG}", split="{SPLIT}")
ds = ds.cast_column("audio", Audio(decode=False))  # no torchcodec needed
row = ds[0]
wave, rate = sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32", always_2d=True)
```

## Scoring a model

Write one 2-D map per `item_id` into an `.npz` file and score it against the negaudio build of this set
(`negaudio build`, or the files of this export; see negaudio's docs/eval.md and docs/hub.md):

```
negaudio eval BUILD --predictions maps.npz -o eval-out
```

The report gives the positives' localization metrics and, for every negative, how much the model still paints.
"""
    return "---\n" + _yaml(meta) + "---\n" + body
