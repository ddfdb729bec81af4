"""`negaudio export`: the Hub layout, read back offline by the real `datasets` package."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import negaudio
from negaudio.export import hub
from tests.conftest import BASE_RECIPE, tree_digest

# Run in a fresh interpreter: HF_HUB_OFFLINE is read when datasets is imported, and a fresh HF_HOME keeps a
# stale cache from answering.
LOAD_SCRIPT = r"""
import hashlib, io, json, sys
import numpy as np, soundfile as sf, datasets
from negaudio.media.audio import FORMATS, pcm_sha256
from negaudio.media.masks import mask_sha256

folder, config = sys.argv[1], sys.argv[2]
ds = datasets.load_dataset(folder, config, split="test")
features = {name: type(f).__name__ for name, f in ds.features.items()}
ds = ds.cast_column("audio", datasets.Audio(decode=False))
rows = {}
for row in ds:
    raw = row["audio"]["bytes"]
    frames, rate = sf.read(io.BytesIO(raw), dtype=FORMATS[row["audio_format"]][2], always_2d=True)
    mask = row["mask"]
    rows[row["item_id"]] = {
        "pcm": pcm_sha256(frames, rate),
        "mask": None if mask is None else mask_sha256(np.asarray(mask.convert("L"))),
        "mask_mode": None if mask is None else mask.mode,
        "image_size": list(row["image"].size),
        "regions": row["regions"],
        "image_classes": row["image_classes"],
        "kind": row["kind"],
        "name": row["name"],
        "role": row["role"],
        "params": json.loads(row["params"]),
        "seed": [row["seed_entropy"], row["seed_spawn_key"]],
    }
print(json.dumps({"features": features, "rows": rows, "order": [r for r in ds["item_id"]]}))
"""


def load_offline(folder: Path, config: str, home: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(home)}
    env.pop("HF_DATASETS_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(folder), config], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory) -> Path:
    """The demo build of `make demo` (is3plus on the embedded bank: 120 items)."""
    root = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEGAUDIO_CACHE", str(root / "cache"))
        negaudio.build("is3plus", root / "demo-build")
    return root / "demo-build"


def test_export_loads_offline_with_the_same_decoded_hashes(demo_build, cli, tmp_path):
    pytest.importorskip("datasets", reason="the datasets package is not installed (pip install negaudio[dev])")
    result = cli("export", demo_build, "-o", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    loaded = load_offline(tmp_path / "hf", "all", tmp_path / "hf-home")
    build = negaudio.open_build(demo_build)
    records = {r.item_id: r for r in build}
    assert len(records) == 120 and set(loaded["rows"]) == set(records)
    f = loaded["features"]
    assert (f["audio"], f["image"], f["mask"]) == ("Audio", "Image", "Image")
    assert (f["item_id"], f["regions"], f["image_classes"], f["num_samples"]) == ("Value", "List", "List", "Value")
    for item_id, row in loaded["rows"].items():
        record = records[item_id]
        assert row["pcm"] == record.audio.pcm_sha256, item_id
        assert row["mask"] == record.mask.sha256 and row["mask_mode"] == "L", item_id
        assert row["image_size"] == [record.image.width, record.image.height]
        assert row["regions"] == [{"label": r.label, "box": r.box, "weight": r.weight} for r in record.regions]
        assert (row["kind"], row["name"], row["image_classes"]) == (record.kind, record.name, record.image_classes)
        assert row["params"] == record.params
        assert row["seed"] == [record.seed.entropy, record.seed.spawn_key]
    roles = {row["role"] for row in loaded["rows"].values()}
    assert roles == {"positive", "negative"}

    one = load_offline(tmp_path / "hf", "offscreen", tmp_path / "hf-home-2")
    expected = [r.item_id for r in build if r.name == "offscreen"]
    assert one["order"] == expected  # a config holds its items, in manifest order
    assert {row["kind"] for row in one["rows"].values()} == {"offscreen"}


def test_features_metadata_is_what_the_installed_datasets_writes():
    datasets = pytest.importorskip("datasets", reason="the datasets package is not installed")
    features = datasets.Features.from_dict(hub.FEATURES)
    assert isinstance(features["audio"], datasets.Audio) and isinstance(features["mask"], datasets.Image)
    assert features.arrow_schema.metadata[b"huggingface"] == hub.features_metadata()
    assert features.arrow_schema.equals(hub.arrow_schema(), check_metadata=True)
    assert features._to_yaml_list() == hub.yaml_features()


def test_export_is_byte_stable_and_replaces_an_earlier_export(demo_build, tmp_path):
    first = hub.export(demo_build, tmp_path / "a")
    hub.export(demo_build, tmp_path / "b")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    card = (tmp_path / "a" / "README.md").read_text()
    assert "f5b6c9aa64ba830f72395e7b77ed6a69cded9546c0a4c36676dde58d22dc93a3" in card
    assert negaudio.open_build(demo_build).info["build_sha256"] in card
    assert "\nlicense: other\n" in card and "config_name: all" in card and "seed | 2025" in card
    assert first.configs == {
        "noise-pink-rms-30": 24,
        "noise-white-sigma1": 24,
        "offscreen": 24,
        "positive": 24,
        "silence": 24,
    }
    # small shards: several per config, push_to_hub names, every row kept; the same folder is re-exported
    small = hub.export(demo_build, tmp_path / "a", max_shard_bytes=400_000)
    import pyarrow.parquet as pq

    positive = sorted((tmp_path / "a" / "data" / "positive").iterdir())
    assert len(positive) > 1 and positive[0].name == f"test-00000-of-{len(positive):05d}.parquet"
    assert sum(pq.read_metadata(tmp_path / "a" / s).num_rows for s in small.shards) == 120
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"README.md", "data"}  # no staging left behind
    hub.export(demo_build, tmp_path / "a")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_export_refuses_bad_input_with_exit_2(demo_build, cli, tmp_path):
    result = cli("export", demo_build, "-o", demo_build / "hf")
    assert result.exit_code == 2 and "inside the build" in result.output
    assert not (demo_build / "hf").exists()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = cli("export", demo_build, "-o", foreign)
    assert result.exit_code == 2 and "holds no earlier negaudio export" in result.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    result = cli("export", tmp_path / "nowhere", "-o", tmp_path / "x")
    assert result.exit_code == 2 and "nowhere" in result.output and not (tmp_path / "x").exists()

    result = cli("export", demo_build, "-o", tmp_path / "lic", "--license", "not a licence!!")
    assert result.exit_code == 2 and "expected a Hub licence identifier" in result.output
    assert not (tmp_path / "lic").exists()

    damaged = tmp_path / "damaged"
    import shutil

    shutil.copytree(demo_build, damaged)
    wav = sorted((damaged / "audio").rglob("*.wav"))[3]
    data = bytearray(wav.read_bytes())
    data[-2] ^= 0xFF
    wav.write_bytes(bytes(data))
    result = cli("export", damaged, "-o", tmp_path / "y")
    assert result.exit_code == 2 and "damaged" in result.output and wav.name in result.output
    assert not (tmp_path / "y").exists()


def test_export_of_a_folder_source_build(cli, write_recipe, demo_root, tmp_path):
    pytest.importorskip("datasets", reason="the datasets package is not installed")
    assert cli("build", write_recipe(), "--source", demo_root, "-o", tmp_path / "b").exit_code == 0
    assert cli("export", tmp_path / "b", "-o", tmp_path / "hf").exit_code == 0
    loaded = load_offline(tmp_path / "hf", "all", tmp_path / "home")
    records = {r.item_id: r for r in negaudio.open_build(tmp_path / "b")}
    assert set(loaded["rows"]) == set(records)
    assert all(loaded["rows"][k]["pcm"] == r.audio.pcm_sha256 for k, r in records.items())
    digest = hashlib.sha256((tmp_path / "hf" / "README.md").read_bytes()).hexdigest()
    assert cli("export", tmp_path / "b", "-o", tmp_path / "hf").exit_code == 0
    assert hashlib.sha256((tmp_path / "hf" / "README.md").read_bytes()).hexdigest() == digest


def _real_build(which: str, shared_data: Path, cli, write_recipe, out: Path):
    """A small build of real benchmark media: IS3 (1024-px JPEGs, 224-px boxes, float WAV output) or the
    canonical VGG-SS plan on the clips present (frames of several sizes, 44.1 kHz float audio resampled)."""
    if which == "is3":
        annotations = shared_data / "annotations" / "is3_synthetic3240_bbox.json"
        recipe = write_recipe(
            source={"kind": "is3", "annotations": str(annotations)},
            audio={**BASE_RECIPE["audio"], "format": "wav_float32"},
        )
        return cli("build", recipe, "-o", out, "--source", shared_data / "samples" / "is3plus", "--limit", "6")
    return cli("build", "vggss-neg", "-o", out, "--source", shared_data / "samples" / "vggss", "--allow-missing")


@pytest.mark.parametrize("which", ["is3", "vggss"])
def test_export_of_real_media_loads_with_the_manifest_hashes(which, shared_data, cli, write_recipe, tmp_path):
    pytest.importorskip("datasets", reason="the datasets package is not installed (pip install negaudio[dev])")
    result = _real_build(which, shared_data, cli, write_recipe, tmp_path / "b")
    assert result.exit_code == 0, result.output
    result = cli("export", tmp_path / "b", "-o", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    loaded = load_offline(tmp_path / "hf", "all", tmp_path / "hf-home")
    records = {r.item_id: r for r in negaudio.open_build(tmp_path / "b")}
    assert len(records) >= 30 and set(loaded["rows"]) == set(records)
    assert sum(r.mask is not None for r in records.values()) == len(records)
    sizes = set()
    for item_id, row in loaded["rows"].items():
        record = records[item_id]
        assert row["pcm"] == record.audio.pcm_sha256, item_id
        assert row["mask"] == record.mask.sha256, item_id
        assert row["image_size"] == [record.image.width, record.image.height]
        assert row["regions"] == [{"label": r.label, "box": r.box, "weight": r.weight} for r in record.regions]
        sizes.add(tuple(row["image_size"]))
    formats = {r.audio.format for r in records.values()}
    if which == "is3":
        assert sizes == {(1024, 1024)} and formats == {"wav_float32"}
    else:
        assert len(sizes) > 1 and formats == {"wav_pcm16"}
