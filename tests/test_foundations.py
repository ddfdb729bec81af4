"""What a first-time user meets: the library does what the CLI does, builds say what they dropped, and
requests that cannot give a right build are refused before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import negaudio
from negaudio.core.errors import InputError
from negaudio.planning.planfile import read_plan
from negaudio.recipe.bundled import canonical_plan
from tests.conftest import tree_digest


@pytest.fixture
def built_demo(cli, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    assert cli("build", "is3plus", "-o", out, "--limit", "2").exit_code == 0
    return out


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
    for spec, version in (("vggss-neg", "1.1.0"), ("vggss-neg@1.0.0", "1.0.0"), ("vggss-neg@1.1.0", "1.1.0")):
        result = cli("plan", spec, "-o", tmp_path / "p.jsonl")
        assert result.exit_code == 0 and f"canonical plan vggss-neg {version}" in result.output
        committed = canonical_plan("vggss-neg", version, negaudio.builder.load_recipe(spec)[0].sha256())
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
    result = cli("build", "vggss-neg", "--source", copy, "--no-canonical", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert f"{left} annotation(s) left out by the source" in result.output  # build says what plan says


def test_the_library_builds_what_the_cli_builds(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    assert cli("build", "is3plus", "-o", tmp_path / "cli", "--limit", "3").exit_code == 0
    info = negaudio.build("is3plus", tmp_path / "lib", limit=3)
    assert info["content_sha256"] == negaudio.open_build(tmp_path / "cli").info["content_sha256"]
    assert tree_digest(tmp_path / "cli") == tree_digest(tmp_path / "lib")
    result = negaudio.plan("is3plus", tmp_path / "p.jsonl", limit=3)
    _, rows = read_plan(tmp_path / "lib" / "plan.jsonl")
    assert result.items == len(list(rows))


def test_output_paths_that_cannot_be_used_are_one_line(cli, built_demo, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args in (
        ("build", "is3plus", "-o", afile / "sub", "--limit", "1"),
        ("plan", "is3plus", "-o", afile / "p.jsonl", "--limit", "1"),
        ("eval", built_demo, "--model", "oracle", "-o", afile),
        ("eval", built_demo, "--model", "oracle", "-o", built_demo / "audio"),
        ("eval", built_demo, "--model", "oracle", "-o", built_demo),
    ):
        result = cli(*args)
        assert result.exit_code == 2, args
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.output, args
    assert cli("verify", built_demo).exit_code == 0  # nothing was written into the build


def test_files_keep_the_users_umask(built_demo):
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("manifest.jsonl", "build.json", "plan.jsonl", "SHA256SUMS"):
        assert (built_demo / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    wav = next(built_demo.rglob("*.wav"))
    assert wav.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_recipe_file_without_a_root_never_falls_back_to_the_demo(cli, tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("name: mine\nsource: {kind: is3}\nnegatives: [{kind: silence}]\n")
    result = cli("build", recipe, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "needs a root" in result.output and not (tmp_path / "out").exists()
    assert "negaudio build is3plus" in result.output  # says how to get the embedded bank


def test_a_plan_of_the_embedded_bank_renders_without_source(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    assert cli("plan", "is3plus", "-o", tmp_path / "p.jsonl", "--limit", "2").exit_code == 0
    result = cli("build", "--plan", tmp_path / "p.jsonl", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert cli("build", "is3plus", "--limit", "2", "-o", tmp_path / "c").exit_code == 0
    assert tree_digest(tmp_path / "b") == tree_digest(tmp_path / "c")


def test_verify_json_reports_an_unreadable_build(cli, tmp_path):
    result = cli("verify", tmp_path / "nowhere", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout.splitlines()[0]) == {
        "build": str(tmp_path / "nowhere"),
        "ok": False,
        "error": f"{tmp_path / 'nowhere'}: build folder not found",
    }


def test_inspect_on_a_stopped_build_says_how_to_finish_it(cli, tmp_path):
    stopped = tmp_path / "b"
    (stopped / ".negaudio").mkdir(parents=True)
    (stopped / ".negaudio" / "state.json").write_text("{}")
    for command in ("inspect", "verify"):
        result = cli(command, stopped)
        assert result.exit_code == 2 and "a build stopped before it finished: run the same build command again" in (
            result.output
        )
    result = cli("inspect", tmp_path)  # not a build at all: no such advice
    assert result.exit_code == 2 and "run the same build command" not in result.output


def test_inspect_on_a_file_says_it_is_a_file(cli, tmp_path):
    report = tmp_path / "report.json"
    report.write_text("{}")
    result = cli("inspect", report)
    assert result.exit_code == 2 and f"{report}: is a file, not a build folder" in result.output
    assert "Traceback" not in result.output
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = cli("inspect", fifo)
    assert result.exit_code == 2 and f"{fifo}: is not a folder" in result.output


def test_build_and_eval_word_a_zero_jobs_alike(cli, write_recipe, demo_root, tmp_path):
    result = cli("build", write_recipe(), "-o", tmp_path / "b", "--source", demo_root, "--jobs", "0")
    assert result.exit_code == 2 and "--jobs must be >= 1, got 0" in result.output


def test_build_options_are_checked_before_planning(cli, tmp_path):
    """A wrong --jobs or a --dask-address without --executor dask stops before any note or plan."""
    result = cli("build", "is3plus", "-o", tmp_path / "b", "--jobs", "0")
    assert result.exit_code == 2 and result.output.startswith("error: --jobs must be >= 1, got 0")
    result = cli("build", "is3plus", "-o", tmp_path / "b", "--dask-address", "tcp://127.0.0.1:8786")
    assert result.exit_code == 2 and "give --executor dask too" in result.output
    assert not (tmp_path / "b").exists()


def test_a_generated_folder_the_user_named_never_costs_their_files(tmp_path, monkeypatch):
    """Outside the cache (a demo recipe with --source DIR) nothing is removed: a non-empty DIR is refused, an
    old DIR.bak beside it stays, an empty DIR is filled."""
    from negaudio.core.cache import STALE_S, generate_once

    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    mine, backup = tmp_path / "userdata", tmp_path / "userdata.bak"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    backup.mkdir()
    os.utime(backup, (time.time() - STALE_S - 60,) * 2)
    ready = lambda r: (r / "done").is_file()  # noqa: E731
    make = lambda tmp: (tmp / "done").write_text("x")  # noqa: E731
    with pytest.raises(InputError, match="exists and is not a generated dataset folder"):
        generate_once(mine, ready, make)
    assert (mine / "keep.txt").read_text() == "mine" and backup.is_dir()
    (mine / "keep.txt").unlink()
    assert generate_once(mine, ready, make) == mine and (mine / "done").is_file() and backup.is_dir()


def test_a_cache_folder_left_by_a_killed_run_is_removed_and_a_fresh_one_kept(tmp_path, monkeypatch):
    """generate_once: a temporary sibling older than STALE_S (a run killed mid-way) goes; a younger one may be
    another run's work in progress and stays; the folder is made once."""
    from negaudio.core.cache import STALE_S, generate_once

    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path))
    root = tmp_path / "bank-v1"
    old, young = tmp_path / "bank-v1.abc123", tmp_path / "bank-v1.def456"
    for folder in (old, young):
        (folder / "images").mkdir(parents=True)
    os.utime(old, (time.time() - STALE_S - 60,) * 2)
    calls = []
    ready = lambda r: (r / "done").is_file()  # noqa: E731
    make = lambda tmp: calls.append((tmp / "done").write_text("x"))  # noqa: E731
    assert generate_once(root, ready, make) == root and (root / "done").is_file()
    assert not old.exists() and young.is_dir() and len(calls) == 1
    generate_once(root, ready, make)
    assert len(calls) == 1


def test_a_partial_build_with_no_media_names_files_it_looked_for(cli, tmp_path):
    """--allow-missing on a folder holding none of the dataset: the paths expected, so the layout is clear."""
    (tmp_path / "empty").mkdir()
    result = cli("build", "s4-neg", "--source", tmp_path / "empty", "-o", tmp_path / "b", "--allow-missing")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "the build would contain 0 items" in text
    assert f"e.g. these files are not there: {tmp_path / 'empty'}/s4_data/" in text and not (tmp_path / "b").exists()


def test_a_negative_type_with_no_item_left_is_said_in_words():
    from negaudio.planning.media import dropped_lines

    counts = {"planned": 13, "rendered": 0, "sample_absent": 0, "clip_absent": 13}
    some = {"planned": 13, "rendered": 2, "sample_absent": 0, "clip_absent": 11}
    lines = dropped_lines({"by_name": {"mismatched": counts, "offscreen": some}}, canonical=True)
    assert lines[0].endswith(
        "from your copy; --no-canonical draws from what you have): the build holds no mismatched item"
    )
    assert not lines[1].endswith("item")


def test_no_build_is_written_into_the_negaudio_cache(cli, tmp_path, monkeypatch):
    """The cache (embedded bank, demo dataset, derived files) is negaudio's own: a build there is refused."""
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    assert cli("build", "is3plus", "-o", tmp_path / "ok", "--limit", "1").exit_code == 0
    bank = next((tmp_path / "cache").glob("composite-bank-*"))
    result = cli("build", "is3plus-synth", "--source", bank, "-o", bank / "out", "--limit", "1")
    assert result.exit_code == 2 and "is inside the negaudio cache" in result.output and not (bank / "out").exists()
