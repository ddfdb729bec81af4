"""``negaudio eval BUILD --model M --checkpoint C`` end to end for the six zoo models on demo builds, with random
weights saved in the authors' layouts; ``negaudio models``; paper calibrations; a failing user adapter."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo_keys import save_checkpoint  # noqa: E402

import negaudio  # noqa: E402
from negaudio.eval.models.registry import ZOO  # noqa: E402
from negaudio.eval.paper_calibrations import PAPER  # noqa: E402

GRID = {"ezvsl": 7, "slavc": 7, "fnac": 7, "lvs": 14, "ssl-align": 14, "ssl-tie": 14}
FAST = ["--batch", "4", "--bootstrap", "0", "--gallery", "0"]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """The demo recipe limited to its first 2 samples (10 items)."""
    root = tmp_path_factory.mktemp("zoo-demo") / "demo"
    negaudio.build("is3plus", root, limit=2)
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo-ckpt")
    return {m: save_checkpoint(folder / f"{m}.pth", m) for m in ZOO}


@pytest.mark.parametrize("model", list(ZOO))
def test_eval_runs_each_zoo_model_end_to_end(cli, small_demo, checkpoints, tmp_path, model):
    out = tmp_path / "out"
    result = cli("eval", small_demo, "--model", model, "--checkpoint", checkpoints[model], *FAST, "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["zoo"] == model and report["model"]["compat"] is None
    assert report["model"]["checkpoint"]["path"] == str(checkpoints[model])
    with np.load(out / "predictions.npz") as maps:
        assert len(maps.files) == 10 and {maps[k].shape for k in maps.files} == {(GRID[model],) * 2}
    assert "BUG REPRODUCTION" not in (out / "report.md").read_text()


def test_eval_on_the_whole_demo_build(cli, tmp_path, checkpoints):
    negaudio.build("is3plus", tmp_path / "demo")
    out = tmp_path / "out"
    result = cli("eval", tmp_path / "demo", "--model", "ezvsl", "--checkpoint", checkpoints["ezvsl"], *FAST, "-o", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["counts"]["items"] == 120


def test_compat_is_labelled_a_bug_reproduction(cli, small_demo, checkpoints, tmp_path):
    out = tmp_path / "out"
    args = ["--model", "fnac", "--checkpoint", checkpoints["fnac"], "--compat", "vssl_eval", *FAST, "-o", out]
    result = cli("eval", small_demo, *args)
    assert result.exit_code == 0, result.output
    compat = json.loads((out / "report.json").read_text())["model"]["compat"]
    assert compat["mode"] == "vssl_eval" and compat["bug_reproduction"] is True
    assert "**BUG REPRODUCTION (--compat vssl_eval)" in (out / "report.md").read_text()
    assert "note: BUG REPRODUCTION" in result.output
    with np.load(out / "predictions.npz") as maps:  # silence and noise reach the network as near-equal inputs
        silence = [k for k in maps.files if k.endswith("silence")]
        noise = [k for k in maps.files if k.endswith("noise-pink-rms-30")]
        np.testing.assert_allclose(maps[silence[0]], maps[noise[0]], atol=1e-3)
    fair = tmp_path / "fair"
    assert cli("eval", small_demo, *args[:4], *FAST, "-o", fair).exit_code == 0
    with np.load(fair / "predictions.npz") as maps:  # by default both take the log: quiet noise is not silence
        assert np.abs(maps[silence[0]] - maps[noise[0]]).max() > 1e-3
    bad = cli("eval", small_demo, "--model", "fnac", "--checkpoint", checkpoints["fnac"], "--compat", "x", "-o", out)
    assert bad.exit_code == 2 and "expected one of none, vssl_eval" in bad.output


@pytest.mark.parametrize("model", ["ezvsl", "ssl-tie"])
def test_paper_calibration_gives_the_hard_coded_thresholds(cli, small_demo, tmp_path, model):
    out = tmp_path / "out"
    args = ["--predictions", tmp_path / "p.npz", "--calibration", f"paper:{model}", "--bootstrap", "0", "-o", out]
    maps = {r.item_id: np.full((7, 7), 0.5, dtype=np.float32) for r in negaudio.open_build(small_demo)}
    np.savez(tmp_path / "p.npz", **maps)
    result = cli("eval", small_demo, *args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    values = {t["label"]: t["value"] for t in report["thresholds"]}
    assert (values["max"], values["max10"], values["maxq3"], values["maxq3_separate"]) == PAPER[model]
    assert report["calibration"]["in_sample"] is False and "vssl_eval@e8ebbc9 eval.py" in report["calibration"]["split"]
    note = f"paper:{model}: thresholds hard-coded for {model}'s maps: they hold for {model} only"
    assert report["calibration"]["model_note"] == note and note in result.output
    assert note in (out / "report.md").read_text()
    assert all(not t["source"].endswith("(negative maxima )") for t in report["thresholds"])  # no counts published
    bad = cli("eval", small_demo, *args[:2], "--calibration", "paper:htf", "-o", tmp_path / "o2")
    assert bad.exit_code == 2 and "unknown paper calibration" in bad.output


def test_models_lists_the_zoo(cli):
    result = cli("models")
    assert result.exit_code == 0, result.output
    for name in ZOO:
        assert name in result.output and f"paper:{name}" in result.output
    assert "github.com/stoneMo/SLAVC" in result.output and "momentum_*" in result.output


def test_a_wrong_checkpoint_is_one_line_naming_the_closest_model(cli, small_demo, checkpoints, tmp_path):
    result = cli("eval", small_demo, "--model", "slavc", "--checkpoint", checkpoints["ezvsl"], "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert "error:" in result.output and "closest zoo model by key overlap: ezvsl or fnac (" in result.output
    both = ["--checkpoint", checkpoints["ezvsl"], "--model-opt", f"checkpoint={checkpoints['ezvsl']}"]
    result = cli("eval", small_demo, "--model", "ezvsl", *both, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "give --checkpoint or --model-opt checkpoint=..., not both" in result.output
    result = cli(
        "eval", small_demo, "--predictions", "p.npz", "--checkpoint", checkpoints["ezvsl"], "-o", tmp_path / "o"
    )
    assert result.exit_code == 2 and "--checkpoint, --compat and --model-opt apply to --model" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the checkpoint file is empty"),
        (bytes(range(256)) * 8, "not a PyTorch checkpoint"),
        ("unrelated", "its keys match no zoo model"),
    ],
)
def test_an_unusable_checkpoint_is_named_plainly(cli, small_demo, tmp_path, content, says):
    import torch

    path = tmp_path / "c.pth"
    if content == "unrelated":
        torch.save({"foo.weight": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    result = cli("eval", small_demo, "--model", "ezvsl", "--checkpoint", path, "-o", tmp_path / "o")
    assert result.exit_code == 2 and says in result.output, result.output
    assert "Error" not in result.output and "0%" not in result.output


FAILING = """
class Broken:
    def __call__(self, images, waves, records):
        raise RuntimeError("the GPU caught fire")
"""


@pytest.mark.parametrize("debug", [False, True])
def test_a_failing_user_adapter_is_one_error_line(small_demo, tmp_path, debug):
    (tmp_path / "broken.py").write_text(FAILING)
    env = {"NEGAUDIO_DEBUG": "1"} if debug else {}
    args = ["eval", str(small_demo), "--model", "broken.py:Broken", "--bootstrap", "0", "-o", "out"]
    run = [sys.executable, "-m", "negaudio", *args]
    result = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, env={**_env(), **env})
    assert result.returncode == 1, result.stderr
    line = "error: --model broken.py:Broken: the model raised RuntimeError: the GPU caught fire"
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(line)
    assert ("Traceback" in result.stderr) == debug
    if not debug:
        assert lines == [line + " (set NEGAUDIO_DEBUG=1 for the traceback)"]
    assert not (tmp_path / "out").exists()


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "NEGAUDIO_DEBUG"}


NAN_MODEL = """
import numpy as np


class Nan:
    def __call__(self, images, waves, records):
        maps = np.zeros((len(records), 4, 4), dtype=np.float32)
        maps[-1, 0, 0] = np.nan
        return maps
"""


def test_a_model_map_with_nan_names_the_model_and_item_not_a_removed_file(cli, small_demo, tmp_path):
    (tmp_path / "nan.py").write_text(NAN_MODEL)
    out = tmp_path / "out"
    result = cli("eval", small_demo, "--model", f"{tmp_path / 'nan.py'}:Nan", "--batch", "4", "-o", out)
    fourth = list(negaudio.open_build(small_demo))[3].item_id  # the last of the first batch of 4
    assert result.exit_code == 2 and f"returned a map with NaN for item {fourth!r}" in result.output, result.output
    assert "predictions.npz" not in result.output and not out.exists()
