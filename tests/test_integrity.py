"""Integrity edges: canonical plans match their recipes, exact soft masks, levels of what is written,
item-name collisions, centred windows, damaged plans and builds."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import negaudio
from negaudio.core.errors import InputError
from negaudio.planning.planfile import read_plan
from negaudio.recipe.bundled import canonical_plan, resolve_recipe
from negaudio.recipe.io import validate_file
from negaudio.recipe.models import Recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("plan", sorted((ROOT / "manifests").glob("*/*/plan.jsonl.gz")), ids=lambda p: p.parts[-3])
def test_every_canonical_plan_belongs_to_its_bundled_recipe(plan):
    name, version = plan.parts[-3], plan.parts[-2]
    recipe = validate_file(Recipe, resolve_recipe(f"{name}@{version}")[0])
    assert recipe.version == version
    assert canonical_plan(name, version, recipe.sha256()) == plan, "regenerate: scripts/make_canonical_plans.py"


def test_recipe_hash_ignores_fields_left_at_their_default():
    base = {"name": "x", "seed": 1, "source": {"kind": "folder"}}
    explicit = {**base, "audio": {"measure_lufs": False, "format": "wav_pcm16"}}
    assert Recipe.model_validate(base).sha256() == Recipe.model_validate(explicit).sha256()
    assert Recipe.model_validate(base).sha256() != Recipe.model_validate({**base, "seed": 2}).sha256()


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"negatives": [{"kind": "silence", "name": "positive"}]}, "negatives.0.name"),
        (
            {"negatives": [{"kind": "mismatched", "count": 2}, {"kind": "silence", "name": "mismatched-1"}]},
            "negatives.1.name",
        ),
        ({"negatives": [{"kind": "silence"}, {"kind": "silence"}]}, "negatives.1"),
        ({"positive_noise": {"snr_db": [10, 10.0]}}, "positive_noise"),
    ],
)
def test_colliding_item_names_are_refused_at_the_entry_that_repeats_one(write_recipe, cli, changes, where):
    path = write_recipe(**changes)
    result = cli("validate", path)
    assert result.exit_code == 2 and f": {where}: name(s) already taken by another item" in result.output
    assert f"{path}:1:1:" not in result.output  # a line of the entry, not the top of the file


def test_soft_ground_truth_is_stored_exactly(cli, write_recipe, demo_root, tmp_path):
    """Flickr's consensus: two annotators' boxes of weight 0.5 give 0.5 and 1 exactly after a round trip."""
    source = tmp_path / "src"
    shutil.copytree(demo_root, source)
    rows = [json.loads(line) for line in (source / "index.jsonl").read_text().splitlines()]
    rows[0]["regions"] = [
        {"label": rows[0]["label"], "box": [10, 10, 110, 60], "weight": 0.5},
        {"label": rows[0]["label"], "box": [60, 10, 160, 60], "weight": 0.5},
    ]
    (source / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli("build", write_recipe(), "-o", tmp_path / "b", "--source", source).exit_code == 0
    build = negaudio.open_build(tmp_path / "b")
    soft = next(r for r in build if r.sample_id == rows[0]["sample_id"])
    gt = build.load_mask(soft)
    assert soft.mask.scale == 254 and set(np.unique(gt)) == {0.0, 0.5, 1.0}
    assert (gt == 1.0).sum() == 50 * 50 and (gt == 0.5).sum() == 2 * 50 * 50
    other = next(r for r in build if r.sample_id == rows[1]["sample_id"])
    assert other.mask.scale == 255 and set(np.unique(build.load_mask(other))) == {0.0, 1.0}


def test_levels_describe_the_written_file(cli, write_recipe, demo_root, tmp_path):
    negatives = [
        {"kind": "silence", "dither_dbfs": -110},  # below one PCM16 step: the file is all zeros
        {"kind": "noise", "level": {"sigma": 4.0}, "clip": "none"},  # PCM16 clips it at full scale
    ]
    assert cli("build", write_recipe(negatives=negatives), "-o", tmp_path / "b", "--source", demo_root).exit_code == 0
    build = negaudio.open_build(tmp_path / "b")
    for r in build:
        data, _ = sf.read(tmp_path / "b" / r.audio.path, dtype="float32")
        if r.kind == "silence":
            assert r.audio.rms_dbfs is None and not data.any()
        if r.kind == "noise":
            assert r.audio.peak_dbfs <= 0.0
            assert r.audio.peak_dbfs == pytest.approx(20 * np.log10(np.abs(data).max()), abs=1e-4)


def test_centred_off_screen_window_matches_the_positives_crop(cli, write_recipe, demo_root, tmp_path):
    audio = {"duration": {"policy": "center_crop", "seconds": 1.0}}
    negatives = [{"kind": "offscreen", "offset": "center"}]
    recipe = write_recipe(audio=audio, negatives=negatives)
    assert cli("build", recipe, "-o", tmp_path / "b", "--source", demo_root).exit_code == 0
    build = negaudio.open_build(tmp_path / "b")
    positives = {r.source.audio: r for r in build if r.kind == "positive"}
    for r in build:
        if r.kind == "offscreen" and r.source.clip_audio in positives:
            # the drawn clip is another sample's positive: its centred window is that positive's crop
            assert r.audio.pcm_sha256 == positives[r.source.clip_audio].audio.pcm_sha256


def test_verify_recomputes_item_hashes(cli, write_recipe, demo_root, tmp_path):
    out = tmp_path / "b"
    assert cli("build", write_recipe(), "-o", out, "--source", demo_root).exit_code == 0
    lines = (out / "manifest.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    row["audio"]["pcm_sha256"] = "0" * 64  # a hand-edited manifest: item_sha256 no longer follows
    lines[3] = json.dumps(row)
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    result = cli("verify", out)
    assert result.exit_code == 1 and f"item {row['item_id']}" in result.output


def test_damaged_plans_and_builds_are_reported(cli, write_recipe, demo_root, tmp_path):
    plan = tmp_path / "deep" / "new" / "plan.jsonl.gz"  # parent folders are created
    assert cli("plan", write_recipe(), "-o", plan, "--source", demo_root).exit_code == 0
    (tmp_path / "bad.jsonl.gz").write_bytes(plan.read_bytes()[:200])
    result = cli("build", "--plan", tmp_path / "bad.jsonl.gz", "--source", demo_root, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "bad.jsonl.gz" in result.output
    header, rows = read_plan(plan)
    rows = [r.to_json() for r in rows]
    del rows[2]["seed"]
    with gzip.open(tmp_path / "keys.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in [header, *rows])
    result = cli("build", "--plan", tmp_path / "keys.jsonl.gz", "--source", demo_root, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "keys.jsonl.gz:4" in result.output
    result = cli("build", "--plan", plan, "--source", demo_root, "-o", tmp_path / "o", "--seed", "3")
    assert result.exit_code == 2 and "--seed" in result.output
    (tmp_path / "file").write_text("x")
    result = cli("build", write_recipe(), "--source", demo_root, "-o", tmp_path / "file")
    assert result.exit_code == 2 and "not a folder" in result.output
    assert cli("build", write_recipe(), "--source", demo_root, "-o", tmp_path / "b").exit_code == 0
    (tmp_path / "b" / "build.json").write_text("{ truncated")
    result = cli("verify", tmp_path / "b")  # a damaged build: a finding (exit 1), as README's exit codes say
    assert result.exit_code == 1 and "altered: build.json (not a negaudio build.json (Invalid JSON" in result.output
    with pytest.raises(InputError):
        negaudio.open_build(tmp_path / "b")


def test_limit_must_be_positive(cli, write_recipe, demo_root, tmp_path):
    result = cli("build", write_recipe(), "--source", demo_root, "-o", tmp_path / "o", "--limit", "-1")
    assert result.exit_code == 2
    assert not Path(tmp_path / "o").exists()
