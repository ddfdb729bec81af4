"""The examples run as users run them: a fresh interpreter on a demo build, maps written, evaluation printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import negaudio
from tests.conftest import BASE_RECIPE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def built(demo_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    recipe = root / "recipe.yaml"
    recipe.write_text(json.dumps(BASE_RECIPE))
    negaudio.build(recipe, root / "demo-build", source=demo_root)
    return root / "demo-build"


def run_example(name: str, *args) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_score_your_model_writes_maps_and_prints_the_headline(built, tmp_path):
    done = run_example("score_your_model.py", built, "-o", tmp_path / "eval-mine")
    ids = negaudio.open_build(built).item_ids()
    with np.load(tmp_path / "eval-mine" / "predictions.npz") as maps:
        assert sorted(maps.files) == sorted(ids)
        assert maps[ids[0]].ndim == 2
    report = json.loads((tmp_path / "eval-mine" / "report.json").read_text())
    negatives = report["headline"]["negatives"]
    assert negatives["silence"]["pia"]["value"] == 0  # the toy model paints nothing for silence
    assert negatives["noise-white-sigma1"]["pia"]["value"] > 0  # and something for loud noise
    assert f"{len(ids)} maps written" in done.stdout and "headline threshold: maxq3" in done.stdout
    assert "silence: mean pIA 0.0" in done.stdout and "pIA 0.000" not in done.stdout  # percent, as eval prints
    assert (tmp_path / "eval-mine" / "report.md").is_file()


def test_score_your_model_with_torch(built, tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (pip install negaudio[torch])")
    done = run_example("score_your_model_torch.py", built, "-o", tmp_path / "eval-torch", "--batch-size", "7")
    report = json.loads((tmp_path / "eval-torch" / "report.json").read_text())
    assert report["headline"]["negatives"]["silence"]["pia"]["value"] == 0
    assert done.stdout.startswith("@maxq3 (percent, with the bootstrap interval): cIoU ")
    assert "silence: mean pIA 0.0" in done.stdout and "pIA 0.000" not in done.stdout  # percent, as eval prints
    with np.load(tmp_path / "eval-torch" / "predictions.npz") as maps:
        assert len(maps.files) == 60


def test_a_wrong_build_path_is_one_error_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "score_your_model.py"), tmp_path / "nope", "-o", tmp_path / "e"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "e").exists()


def test_score_your_model_writes_over_its_own_maps_only(built, tmp_path):
    """Its own maps (marked) are replaced by a rerun, even alone in the folder (a run that stopped early);
    someone else's are not, alone or beside a report."""
    out = tmp_path / "eval-mine"
    command = [sys.executable, str(EXAMPLES / "score_your_model.py"), str(built), "-o"]
    assert subprocess.run([*command, out], capture_output=True, timeout=600).returncode == 0
    for path in out.iterdir():  # as if it stopped after writing its maps
        if path.name != "predictions.npz":
            path.unlink()
    done = subprocess.run([*command, out], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "predictions.npz").write_bytes(b"someone's maps")
    (out / "predictions.npz").write_bytes(b"someone's maps")  # beside the report
    for folder in (alone, out):
        done = subprocess.run([*command, folder], capture_output=True, text=True, timeout=600)
        assert done.returncode == 2 and "maps this script did not write" in done.stderr, done.stderr
        assert (folder / "predictions.npz").read_bytes() == b"someone's maps"
