"""What a first-time user meets: the library does what the CLI does, builds say what they dropped, and
requests that cannot give a right build are refused before anything is written."""

from __future__ import annotations

import json
import shutil

import pytest

import negaudio
from negaudio.planning.planfile import read_plan
from negaudio.recipe.bundled import canonical_plan
from tests.conftest import tree_digest


def test_version_and_short_help(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.output.strip() == f"negaudio {negaudio.__version__}"
    result = cli("build", "-h")
    assert result.exit_code == 0 and "--allow-missing" in result.output


@pytest.mark.parametrize("extra", [[], ["--allow-missing"]])
def test_a_source_folder_that_does_not_exist_is_an_error(cli, write_recipe, tmp_path, extra):
    for recipe in (write_recipe(), "vggss-neg"):
        result = cli("build", recipe, "--source", tmp_path / "typo", "-o", tmp_path / "out", *extra)
        assert result.exit_code == 2 and "typo: source folder not found" in result.output
        assert not (tmp_path / "out").exists()


def test_a_build_of_zero_items_is_refused_and_writes_nothing(cli, write_recipe, demo_root, tmp_path):
    empty = tmp_path / "copy"
    shutil.copytree(demo_root, empty)
    shutil.rmtree(empty / "images")
    result = cli("build", write_recipe(), "--source", empty, "-o", tmp_path / "out", "--allow-missing")
    assert result.exit_code == 2 and "0 items" in result.output
    assert not (tmp_path / "out").exists()


def test_a_partial_build_says_what_it_dropped_per_item_name(cli, write_recipe, demo_root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(demo_root, copy)
    plan = tmp_path / "plan.jsonl"
    assert cli("plan", write_recipe(), "--source", copy, "-o", plan).exit_code == 0
    _, rows = read_plan(plan)
    offscreen = [r for r in rows if r.kind == "offscreen"]
    drawn = [r.params["clip_audio"] for r in offscreen]
    gone = max(set(drawn), key=drawn.count)  # the clip drawn most often as an off-screen sound
    (copy / gone).unlink()
    owner = next(r.sample_id for r in offscreen if r.audio == gone)
    clip_absent = sum(r.params["clip_audio"] == gone and r.sample_id != owner for r in offscreen)
    result = cli("build", "--plan", plan, "--source", copy, "-o", tmp_path / "out", "--allow-missing")
    assert result.exit_code == 0, result.output
    by_name = json.loads((tmp_path / "out" / "build.json").read_text())["missing"]["by_name"]
    assert by_name["positive"] == {"planned": 12, "rendered": 11, "sample_absent": 1, "clip_absent": 0}
    rendered = 12 - 1 - clip_absent
    assert by_name["offscreen"] == {"planned": 12, "rendered": rendered, "sample_absent": 1, "clip_absent": clip_absent}
    assert clip_absent >= 1 and f"offscreen: {rendered} of 12 rendered" in result.output
    assert "drawn clips are absent" in result.output
    assert "positive: 11 of 12 rendered" in result.output and "partial build" in result.output


def test_validate_lists_every_item_a_sample_gets(cli, write_recipe):
    recipe = write_recipe(
        negatives=[{"kind": "silence"}, {"kind": "mismatched", "count": 2}],
        positive_noise={"color": "pink", "snr_db": [10, 0]},
    )
    result = cli("validate", recipe)
    assert result.exit_code == 0, result.output
    items = "positive, silence, mismatched-1, mismatched-2, positive-pink-snr10, positive-pink-snr0"
    assert items in result.output


def test_a_flat_folder_pool_is_refused_with_the_accepted_layouts(cli, write_recipe, demo_root, tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    for wav in sorted((demo_root / "audio").rglob("*.wav"))[:3]:
        shutil.copy(wav, pool / wav.name)
    recipe = write_recipe(negatives=[{"kind": "offscreen", "pool": {"folder": str(pool)}}])
    result = cli("build", recipe, "--source", demo_root, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "its clips have no class" in result.output and "one sub-folder per class" in result.output
    assert "index file" in result.output and not (tmp_path / "out").exists()


def test_plan_of_a_bundled_recipe_is_the_canonical_plan_build_renders(cli, tmp_path):
    result = cli("plan", "vggss-neg", "-o", tmp_path / "p.jsonl")
    assert result.exit_code == 0 and "canonical plan" in result.output
    committed = canonical_plan("vggss-neg", "1.0.0", negaudio.builder.load_recipe("vggss-neg")[0].sha256())
    (h1, rows1), (h2, rows2) = read_plan(committed), read_plan(tmp_path / "p.jsonl")
    assert h1 == h2 and list(rows1) == list(rows2)


def test_plan_reports_what_the_source_left_out(cli, shared_data, tmp_path):
    copy = tmp_path / "vggss"
    shutil.copytree(shared_data / "samples" / "vggss", copy)
    shutil.copy(shared_data / "annotations" / "vggss.json", copy / "vggss.json")
    result = cli("plan", "vggss-neg", "--source", copy, "--no-canonical", "-o", tmp_path / "p.jsonl")
    assert result.exit_code == 0, result.output
    header, _ = read_plan(tmp_path / "p.jsonl")
    left = sum(header["source"]["report"]["missing"].values())
    assert left > 5000 and f"{left} annotation(s) left out by the source" in result.output


def test_the_library_builds_what_the_cli_builds(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    assert cli("build", "is3plus", "-o", tmp_path / "cli", "--limit", "3").exit_code == 0
    info = negaudio.build("is3plus", tmp_path / "lib", limit=3)
    assert info["content_sha256"] == negaudio.open_build(tmp_path / "cli").info["content_sha256"]
    assert tree_digest(tmp_path / "cli") == tree_digest(tmp_path / "lib")
    result = negaudio.plan("is3plus", tmp_path / "p.jsonl", limit=3)
    _, rows = read_plan(tmp_path / "lib" / "plan.jsonl")
    assert result.items == len(list(rows))
