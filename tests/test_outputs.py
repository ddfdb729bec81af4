"""Commands other than build write only where they may: never into a build, never over files they did not write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import negaudio
from negaudio.core.errors import InputError
from negaudio.eval.predictions import MODEL_MARK, PredictionWriter
from tests.conftest import BASE_RECIPE, tree_digest


@pytest.fixture(scope="module")
def builds(demo_root, tmp_path_factory) -> tuple[Path, Path]:
    """Two small builds of the demo source: the one scored and another one."""
    root = tmp_path_factory.mktemp("outputs")
    recipe = root / "recipe.yaml"
    recipe.write_text(json.dumps(BASE_RECIPE))
    for name in ("scored", "other"):
        negaudio.build(recipe, root / name, source=demo_root, limit=2)
    return root / "scored", root / "other"


@pytest.fixture(scope="module")
def evaluation(builds, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "e"
    negaudio.evaluate(builds[0], out, model="energy-gated", bootstrap=0)
    return out


@pytest.mark.parametrize("where", ["", "sub/folder"])
@pytest.mark.parametrize("command", ["build", "eval", "export", "compare", "gallery"])
def test_no_command_writes_into_a_build(cli, builds, evaluation, write_recipe, demo_root, command, where):
    scored, other = builds
    before = tree_digest(other)
    target = other / where if where else other
    args = {
        "build": ("build", write_recipe(), "-o", target / "b", "--source", demo_root, "--limit", "1"),
        "eval": ("eval", scored, "--model", "energy-gated", "-o", target),
        "export": ("export", scored, "-o", target),
        "compare": ("compare", evaluation, "-o", target),
        "gallery": ("inspect", scored, "--gallery", target / "sheet.png"),
    }[command]
    result = cli(*args)
    named = args[args.index("--gallery" if command == "gallery" else "-o") + 1]
    says = "is a build" if named == other else f"is inside the build {other}"
    assert result.exit_code == 2 and " ".join(result.output.split()).startswith(f"error: {named}: {says}")
    assert "Traceback" not in result.output
    assert tree_digest(other) == before
    assert not (other / "sub").exists() and not (other / "sheet.png").exists() and not (other / "b").exists()
    assert cli("verify", other).exit_code == 0


def test_eval_refuses_a_folder_it_did_not_write(cli, builds, tmp_path):
    notes = tmp_path / "project"
    notes.mkdir()
    (notes / "report.md").write_text("my notes")
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", notes)
    assert result.exit_code == 2 and "not empty" in result.output
    assert (notes / "report.md").read_text() == "my notes" and sorted(p.name for p in notes.iterdir()) == ["report.md"]


def test_a_new_report_replaces_every_file_of_the_earlier_one(cli, builds, tmp_path):
    out = tmp_path / "e"
    assert cli("eval", builds[0], "--model", "energy-gated", "-o", out, "--bootstrap", "0").exit_code == 0
    assert (out / "gallery.png").is_file()
    (out / "mine.txt").write_text("kept")
    result = cli("eval", builds[0], "--model", "random", "-o", out, "--gallery", "0", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert not (out / "gallery.png").exists() and not (out / "gallery.pdf").exists()
    assert (out / "mine.txt").read_text() == "kept"


def test_compare_refuses_a_folder_it_did_not_write(cli, evaluation, tmp_path):
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / "table.tex").write_text("mine")
    result = cli("compare", evaluation, "-o", folder)
    assert result.exit_code == 2 and "not empty" in result.output
    assert (folder / "table.tex").read_text() == "mine"
    assert cli("compare", evaluation, "-o", tmp_path / "c").exit_code == 0
    assert cli("compare", evaluation, "-o", tmp_path / "c").exit_code == 0  # its own folder: replaced


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (("--bootstrap", "-5"), "--bootstrap must be 0 (no intervals) or >= 100, got -5"),
        (("--bootstrap", "1"), "--bootstrap must be 0 (no intervals) or >= 100, got 1"),
        (("--threshold", "bogus"), "expected a finite number or one of median"),
        (("--ci-level", "2"), "--ci-level must be in (0, 1)"),
        (("--gallery", "-1"), "--gallery must be >= 0"),
        (("--calibration", "paper:nosuch"), "unknown paper calibration"),
        (("--calibration", "EMPTY"), "not a readable calibration JSON"),
        (("--calibrate-on", "NOBUILD"), "not found"),
    ],
)
def test_eval_options_are_checked_before_the_model_runs(cli, builds, tmp_path, option, says):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    option = tuple(str(empty) if o == "EMPTY" else str(tmp_path / "none") if o == "NOBUILD" else o for o in option)
    out = tmp_path / "e"
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", out, *option)
    assert result.exit_code == 2 and says in result.output, result.output
    assert "running model" not in result.output and not out.exists()


def test_console_tables_are_never_cut_without_a_terminal(cli, builds, tmp_path):
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", tmp_path / "e")
    assert result.exit_code == 0
    assert "noise-white-sigma1 " in result.output and "…" not in result.output


def test_a_build_given_as_the_report_folder_is_named_as_a_build(cli, builds):
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", builds[0])
    assert result.exit_code == 2 and f"{builds[0]}: is a build; write the report to a folder outside" in result.output


def test_eval_never_saves_a_calibration_into_a_build(cli, builds, tmp_path):
    scored, other = builds
    before = tree_digest(other)
    out = tmp_path / "e"
    result = cli("eval", scored, "--model", "energy-gated", "-o", out, "--save-calibration", other / "cal.json")
    assert result.exit_code == 2 and "is inside the build" in result.output and not out.exists()
    assert tree_digest(other) == before


@pytest.mark.parametrize("whose", ["own", "another model run's"])
def test_a_model_run_never_replaces_maps_the_folders_report_scored(cli, builds, tmp_path, whose):
    """examples/score_your_model.py writes the user's maps into its report folder, and a model run's maps may be
    kept and re-scored in a folder of their own: a model run there stops."""
    out = tmp_path / "mine"
    assert cli("eval", builds[0], "--model", "random", "-o", tmp_path / "r", "--bootstrap", "0").exit_code == 0
    out.mkdir()
    if whose == "own":
        own_maps(tmp_path / "r" / "predictions.npz", out / "predictions.npz")
    else:
        shutil.copy(tmp_path / "r" / "predictions.npz", out / "predictions.npz")
    assert (
        cli("eval", builds[0], "--predictions", out / "predictions.npz", "-o", out, "--bootstrap", "0").exit_code == 0
    )
    before = tree_digest(out)
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 2 and "maps that are not this folder's --model run's own" in result.output
    assert tree_digest(out) == before


def own_maps(source, path, comment=b""):
    """The maps of ``source`` rewritten as a user's script writes them (no zip comment), or with ``comment``."""
    with np.load(source) as maps, PredictionWriter(path, comment) as writer:
        for item_id in maps.files:
            writer.add(item_id, maps[item_id])


def test_a_model_run_never_replaces_a_users_maps_in_a_folder_without_report(cli, builds, tmp_path):
    """A user's own predictions.npz alone in the folder: a model run there stops; scoring it there works."""
    assert cli("eval", builds[0], "--model", "random", "-o", tmp_path / "r", "--bootstrap", "0").exit_code == 0
    out = tmp_path / "mine"
    out.mkdir()
    own_maps(tmp_path / "r" / "predictions.npz", out / "predictions.npz")
    before = tree_digest(out)
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 2 and "the folder is not empty (it holds 'predictions.npz')" in result.output
    assert "holds no earlier report" in result.output and tree_digest(out) == before
    result = cli("eval", builds[0], "--predictions", out / "predictions.npz", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 0, result.output


def test_a_folder_holding_only_the_maps_to_score_takes_their_report(cli, builds, tmp_path):
    """The maps and the calibration maps, given as files or as the folder itself, may sit in the report folder."""
    scored, other = builds
    for build, name in ((scored, "predictions.npz"), (other, "calibration_predictions.npz")):
        assert cli("eval", build, "--model", "random", "-o", tmp_path / name, "--bootstrap", "0").exit_code == 0
    out = tmp_path / "mine"
    out.mkdir()
    own_maps(tmp_path / "predictions.npz" / "predictions.npz", out / "predictions.npz")
    own_maps(tmp_path / "calibration_predictions.npz" / "predictions.npz", out / "calibration_predictions.npz")
    calibrated = ("--calibrate-on", other, "--calibration-predictions", out / "calibration_predictions.npz")
    result = cli("eval", scored, "--predictions", out / "predictions.npz", *calibrated, "-o", out, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    alone = tmp_path / "alone"  # only the maps, given as the folder that holds them
    alone.mkdir()
    shutil.copy(out / "predictions.npz", alone / "maps.npz")
    result = cli("eval", scored, "--predictions", alone, "-o", alone, "--bootstrap", "0")
    assert result.exit_code == 0, result.output


def test_a_model_run_that_stopped_early_can_be_rerun_and_its_maps_are_the_reports_own(cli, builds, tmp_path):
    out = tmp_path / "e"
    out.mkdir()
    assert cli("eval", builds[0], "--model", "random", "-o", tmp_path / "r", "--bootstrap", "0").exit_code == 0
    own_maps(tmp_path / "r" / "predictions.npz", out / "predictions.npz", MODEL_MARK)  # scoring stopped: no report
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert "predictions.npz" in json.loads((out / "report.json").read_text())["files"]
    # scoring those maps again into the same folder keeps them: they are this report's input
    result = cli("eval", builds[0], "--predictions", out / "predictions.npz", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 0 and (out / "predictions.npz").is_file()
    # scoring other maps into a model run's folder would remove its maps with the rest of its report: refused
    model = tmp_path / "model"
    assert cli("eval", builds[0], "--model", "energy-gated", "-o", model, "--bootstrap", "0").exit_code == 0
    before = tree_digest(model)
    result = cli("eval", builds[0], "--predictions", out / "predictions.npz", "-o", model)
    assert result.exit_code == 2 and "the maps of the --model run whose report is in" in result.output
    assert tree_digest(model) == before


def test_refusals_read_as_sentences(cli, builds, tmp_path):
    (tmp_path / "f").write_text("x")
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", tmp_path / "f")
    assert "give a folder for the report" in result.output
    (tmp_path / "d").mkdir()
    for name in ("x", "a\nb", "c", "b"):
        (tmp_path / "d" / name).write_text("x")
    result = cli("eval", builds[0], "--model", "energy-gated", "-o", tmp_path / "d")
    assert "(it holds 'a\\nb', 'b', 'c' and 1 more) and holds no earlier report" in " ".join(result.output.split())


def test_plan_writes_only_a_plan_file(cli, builds, write_recipe, demo_root, tmp_path):
    notes = tmp_path / "README.md"
    notes.write_text("my notes")
    other = tmp_path / "other.jsonl"
    other.write_text("{}\n")
    (tmp_path / "folder.jsonl").mkdir()
    for target, says in [
        (notes, "a plan file is named .jsonl or .jsonl.gz"),
        (other, "holds a file that is not a negaudio plan; it is not replaced: give a new file name"),
        (tmp_path / "folder.jsonl", "is a folder"),
        (builds[1] / "p.jsonl", "is inside the build"),
    ]:
        result = cli("plan", write_recipe(), "--source", demo_root, "-o", target, "--limit", "1")
        assert result.exit_code == 2 and says in result.output, (target, result.output)
    assert notes.read_text() == "my notes" and other.read_text() == "{}\n" and not (builds[1] / "p.jsonl").exists()
    plan = tmp_path / "p.jsonl"
    for _ in range(2):  # an earlier plan is replaced
        assert cli("plan", write_recipe(), "--source", demo_root, "-o", plan, "--limit", "1").exit_code == 0


def test_python_api_options_are_checked_as_the_command_lines_are(builds, tmp_path):
    """A single threshold may be a plain string; a bad --jobs or --limit is an InputError naming the option."""
    report = negaudio.evaluate(builds[0], tmp_path / "e", model="random", thresholds="maxq3", bootstrap=0)
    assert [t["label"] for t in report["thresholds"]] == ["maxq3"]  # not one threshold per letter
    for jobs in ("abc", 0, 1.5):
        with pytest.raises(InputError, match=f"--jobs must be >= 1, got {jobs!r}"):
            negaudio.evaluate(builds[0], tmp_path / "f", model="random", jobs=jobs)
    for batch in ("abc", 0):  # "abc" was a TypeError
        with pytest.raises(InputError, match=f"--batch must be >= 1, got {batch!r}"):
            negaudio.evaluate(builds[0], tmp_path / "f", model="random", batch=batch)
    recipe = builds[0].parent / "recipe.yaml"
    for limit in (0, "3"):
        with pytest.raises(InputError, match=f"--limit must be >= 1, got {limit!r}"):
            negaudio.build(recipe, tmp_path / "b", limit=limit)
    with pytest.raises(InputError, match="give a RECIPE or --plan PLAN, not both"):
        negaudio.build(recipe, tmp_path / "b", plan_file=tmp_path / "p.jsonl")
    assert not (tmp_path / "b").exists() and not (tmp_path / "f").exists()


def test_calibration_maps_without_their_build_or_beside_a_model_are_refused(cli, builds, tmp_path):
    """--calibration-predictions was ignored without --calibrate-on (calibrated in-sample) and with --model."""
    scored, other = builds
    assert cli("eval", scored, "--model", "random", "-o", tmp_path / "r", "--bootstrap", "0").exit_code == 0
    maps = tmp_path / "r" / "predictions.npz"
    result = cli("eval", scored, "--predictions", maps, "--calibration-predictions", maps, "-o", tmp_path / "a")
    assert result.exit_code == 2 and "give --calibrate-on BUILD2 too" in result.output
    calibrated = ("--calibrate-on", other, "--calibration-predictions", maps)
    result = cli("eval", scored, "--model", "random", *calibrated, "-o", tmp_path / "b")
    assert result.exit_code == 2 and "with --model, the run makes the model's maps" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_rescoring_a_calibrated_model_run_in_place_keeps_both_its_maps(cli, builds, tmp_path):
    """The calibration maps it reads again were removed with the earlier report's files."""
    scored, other = builds
    out = tmp_path / "m"
    run = ("--calibrate-on", other, "-o", out, "--bootstrap", "0")
    assert cli("eval", scored, "--model", "random", *run).exit_code == 0
    maps = ("--predictions", out / "predictions.npz", "--calibration-predictions", out / "calibration_predictions.npz")
    result = cli("eval", scored, *maps, *run)
    assert result.exit_code == 0, result.output
    assert (out / "predictions.npz").is_file() and (out / "calibration_predictions.npz").is_file()


def test_a_model_run_killed_while_writing_its_maps_can_be_rerun(cli, builds, tmp_path):
    out = tmp_path / "k"
    out.mkdir()
    (out / "predictions.npz.tmp").write_bytes(b"cut short")  # SIGKILL leaves the temporary file
    result = cli("eval", builds[0], "--model", "random", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
