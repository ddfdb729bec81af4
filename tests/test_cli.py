"""The command line as a user meets it: bundled recipes, validate, schema, plan, inspect, TOML recipes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import negaudio
from negaudio.planning.planfile import read_plan
from tests.conftest import tree_digest


def test_bundled_is3plus_builds_composites_from_the_embedded_bank(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    result = cli("build", "is3plus", "-o", tmp_path / "b", "--limit", "4")
    assert result.exit_code == 0, result.output
    assert "Build ready in" in result.output and "offscreen" in result.output
    build = negaudio.open_build(tmp_path / "b")
    assert build.info["source"]["kind"] == "composite" and len({r.sample_id for r in build}) == 4
    assert cli("inspect", tmp_path / "b").exit_code == 0
    again = cli("build", "is3plus", "-o", tmp_path / "b", "--limit", "4")  # a no-op: it says so, and writes nothing
    assert again.exit_code == 0 and "already built" in again.output and "written to" not in again.output


def test_validate_and_list(cli, write_recipe):
    result = cli("validate", write_recipe())
    assert result.exit_code == 0 and "valid" in result.output and "offscreen" in result.output
    assert "is3plus" in cli("recipes").output
    assert "s4-neg  1.0.0 1.1.0" in cli("recipes").output  # versions, oldest first; NAME alone is the last
    assert "(s4-neg 1.0.0," in cli("validate", "s4-neg@1.0.0").output
    assert "(s4-neg 1.1.0," in cli("validate", "s4-neg").output
    result = cli("validate", "s4-neg@9.9.9")
    assert result.exit_code == 2 and "s4-neg has no version 9.9.9 (versions: 1.0.0, 1.1.0)" in result.output
    result = cli("validate", "no-such-recipe")
    assert result.exit_code == 2 and "is3plus" in result.output and "did you mean" not in result.output
    result = cli("validate", "is3plux")
    assert result.exit_code == 2 and "did you mean 'is3plus'?" in result.output


def test_a_folder_given_as_recipe_is_called_a_folder(cli, tmp_path):
    result = cli("validate", tmp_path)
    assert result.exit_code == 2 and f"{tmp_path}: is a folder; give a recipe file (.yaml" in result.output


def test_error_messages_are_printed_verbatim(cli, tmp_path):
    missing = tmp_path / "take[bold] [x]:smile:.yaml"  # neither rich markup nor an emoji code here
    result = cli("validate", missing)
    assert result.exit_code == 2 and f"error: {missing}: no such recipe file" in result.output


def test_schemas_are_json(cli):
    recipe = json.loads(cli("schema", "recipe").output)
    assert "negatives" in recipe["properties"]
    manifest = json.loads(cli("schema", "manifest").output)
    assert {"schema_version", "item_id", "kind", "audio", "mask"} <= set(manifest["required"])


def test_plan_then_render_the_plan_equals_a_direct_build(cli, write_recipe, demo_root, tmp_path):
    recipe = write_recipe()
    plan = tmp_path / "plan.jsonl.gz"
    assert cli("plan", recipe, "-o", plan, "--source", demo_root).exit_code == 0
    header, rows = read_plan(plan)
    rows = list(rows)
    assert header["recipe"]["seed"] == 7 and len(rows) == 12 * 5
    assert all(r.seed["entropy"] == 7 and len(r.seed["spawn_key"]) == 4 for r in rows)
    off = [r for r in rows if r.kind == "offscreen"]
    assert all(r.params["heard_label"] not in r.image_classes for r in off)
    assert cli("build", "--plan", plan, "--source", demo_root, "-o", tmp_path / "p").exit_code == 0
    assert cli("build", recipe, "--source", demo_root, "-o", tmp_path / "r").exit_code == 0
    assert tree_digest(tmp_path / "p") == tree_digest(tmp_path / "r")
    result = cli("build", "--plan", plan, "-o", tmp_path / "x")
    assert result.exit_code == 2 and "--source" in result.output


def test_toml_recipe_equals_yaml(cli, write_recipe, demo_root, tmp_path):
    toml = tmp_path / "recipe.toml"
    toml.write_text(
        'name = "test-set"\nversion = "1.0.0"\nseed = 7\n[source]\nkind = "folder"\n'
        '[audio]\nsample_rate = 16000\nchannels = 1\nformat = "wav_pcm16"\n[audio.duration]\npolicy = "match"\n'
        '[[negatives]]\nkind = "silence"\n'
        '[[negatives]]\nkind = "noise"\ncolor = "white"\nlevel = { sigma = 1.0 }\nclip = "clip"\n'
        '[[negatives]]\nkind = "noise"\ncolor = "pink"\nlevel = { rms_dbfs = -30 }\n'
        '[[negatives]]\nkind = "offscreen"\npool = "same"\noffset = "random"\n'
    )
    assert cli("build", toml, "--source", demo_root, "-o", tmp_path / "t").exit_code == 0
    assert cli("build", write_recipe(), "--source", demo_root, "-o", tmp_path / "y").exit_code == 0
    assert tree_digest(tmp_path / "t") == tree_digest(tmp_path / "y")
    bad = tmp_path / "bad.toml"
    bad.write_text(toml.read_text().replace("sample_rate = 16000", 'sample_rate = "fast"'))
    result = cli("validate", bad)
    assert result.exit_code == 2 and f"{bad}:7" in result.output


def test_recordings_and_folder_pools(cli, write_recipe, demo_root, shared_data, tmp_path):
    """Real silence/noise recordings from a folder, and an off-screen pool from another folder."""
    pool = tmp_path / "pool"
    (pool / "siren").mkdir(parents=True)
    (pool / "siren" / "a.wav").write_bytes((shared_data / "samples/reference/noise.wav").read_bytes())
    negatives = [
        {"kind": "recording", "folder": str(shared_data / "samples/reference"), "offset": "start"},
        {"kind": "offscreen", "name": "offscreen-ext", "pool": {"folder": str(pool)}},
    ]
    assert cli("build", write_recipe(negatives=negatives), "--source", demo_root, "-o", tmp_path / "b").exit_code == 0
    records = list(negaudio.open_build(tmp_path / "b"))
    assert {r.kind for r in records} == {"positive", "recording", "offscreen"}
    assert {r.heard_label for r in records if r.kind == "offscreen"} == {"siren"}
    assert {r.source.clip_audio for r in records if r.kind == "recording"} <= {"noise.wav", "silence.wav"}


def test_help_lists_commands(cli):
    output = cli("--help").output
    for command in ("build", "plan", "validate", "inspect", "verify", "schema"):
        assert command in output


def test_help_and_usage_errors_are_plain_text(cli):
    """A flag shows no value placeholder, and a bad option value is one plain line (no box drawing)."""
    output = cli("build", "--help").output
    assert "--overwrite " in output and "<bool>" not in output and "╭" not in output
    assert "build [OPTIONS] [RECIPE]" in output
    result = cli("build", "--jobs", "abc")
    assert result.exit_code == 2 and "Error: Invalid value for '-j' / '--jobs'" in result.output
    assert "╭" not in result.output and "negaudio[hf]" in cli("publish", "--help").output
    assert "paper:MODEL" in " ".join(cli("eval", "--help").output.split())  # the named calibrations


def test_bundled_recipe_with_source_renders_its_canonical_plan(cli, shared_data, tmp_path):
    """Only the media folders are needed; a partial copy builds the canonical items it has, none re-drawn."""
    source = shared_data / "samples" / "vggss"
    result = cli("build", "vggss-neg", "--source", source, "-o", tmp_path / "a")
    assert result.exit_code == 2 and "--allow-missing" in result.output
    result = cli("build", "vggss-neg@1.0.0", "--source", source, "-o", tmp_path / "b", "--allow-missing")
    assert result.exit_code == 0 and "canonical plan vggss-neg 1.0.0" in result.output
    _, rows = read_plan(Path(negaudio.__file__).parents[1] / "manifests/vggss-neg/1.0.0/plan.jsonl.gz")
    canonical = {r.item_id: {k: v for k, v in r.params.items() if k != "heard_label"} for r in rows}
    build = negaudio.open_build(tmp_path / "b")
    assert build.info["partial"] and build.info["missing"]["files"] > 0
    records = list(build)
    assert len({r.sample_id for r in records}) == 13
    assert all(canonical[r.item_id] == r.params for r in records)  # same draws as the canonical plan
    skip = ("--allow-missing", "--on-error", "skip")  # absent media are expected, not errors: the same build
    assert cli("build", "vggss-neg@1.0.0", "--source", source, "-o", tmp_path / "s", *skip).exit_code == 0
    skipped = negaudio.open_build(tmp_path / "s").info
    assert skipped["failures"] == 0 and skipped["build_sha256"] == build.info["build_sha256"]
    wrong = tmp_path / "copy"
    shutil.copytree(source, wrong)
    (wrong / "vggss.json").write_text("[]")
    result = cli("build", "vggss-neg", "--source", wrong, "-o", tmp_path / "c", "--allow-missing")
    assert result.exit_code == 0 and "differs from the official annotations" in result.output
    result = cli("build", "vggss-neg", "--source", wrong, "-o", tmp_path / "d", "--no-canonical")
    assert result.exit_code == 2  # planning from the user's (empty) annotation file finds no sample


def test_misspelt_recipe_fields_and_values_name_the_closest_choice(cli, write_recipe):
    negatives = [
        {"kind": "silense"},
        {"kind": "noise", "colour": "white", "level": {"sigma": 1.0}},
        {"kind": "noise", "color": "whte", "level": {"sigmaa": 1.0}},
        {"kind": "noise", "color": "white", "level": {"sigma": 1.0}, "zzz": 1},
    ]
    output = cli("validate", write_recipe(negatives=negatives)).output
    assert "negatives.0.kind: Input should be one of" in output and "did you mean 'silence'?" in output
    assert "negatives.1.colour: Extra inputs are not permitted; did you mean 'color'?" in output
    assert "negatives.2.color: Input should be 'white'" in output and "did you mean 'white'?" in output
    assert "negatives.2.level.sigmaa: Extra inputs are not permitted; did you mean 'sigma'?" in output
    assert "negatives.3.zzz: Extra inputs are not permitted\n" in output  # nothing close: no guess
    output = cli("validate", write_recipe(positive_noise={"snr_dbb": [10]})).output  # an optional field
    assert "positive_noise.snr_dbb: Extra inputs are not permitted; did you mean 'snr_db'?" in output
