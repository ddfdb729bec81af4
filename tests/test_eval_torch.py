"""The EZ-VSL adapter on a randomly initialised checkpoint saved from negaudio's own module: torchvision names,
the front-end on silence and stereo, key maps, a SLAVC checkpoint given as EZ-VSL, the CLI with --model-opt."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from negaudio.builder import BuildOptions, build  # noqa: E402
from negaudio.core.errors import InputError  # noqa: E402
from negaudio.eval.adapters import load_adapter  # noqa: E402
from negaudio.eval.models.ezvsl import DualEncoder  # noqa: E402
from negaudio.recipe.io import validate_data  # noqa: E402
from negaudio.recipe.models import Recipe  # noqa: E402


def save_checkpoint(path, heads: int = 1, extra: dict | None = None):
    torch.manual_seed(0)
    model = DualEncoder(dim=32, heads=heads)
    state = {f"module.{k}": v for k, v in model.state_dict().items()} | (extra or {})
    torch.save({"model": state, "epoch": 7}, path)
    return path


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "ezvsl.pth")


def test_state_dict_uses_torchvision_names():
    state = DualEncoder(dim=32).state_dict()
    assert state["audnet.conv1.weight"].shape == (64, 1, 7, 7)
    assert state["imgnet.conv1.weight"].shape == (64, 3, 7, 7)
    assert state["imgnet.layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert "imgnet.layer4.1.bn2.running_var" in state and "imgnet.layer1.0.downsample.0.weight" not in state
    assert state["img_proj.weight"].shape == (32, 512, 1, 1) and state["aud_proj.weight"].shape == (32, 512)
    trunk = sum(v.numel() for k, v in state.items() if k.startswith("imgnet.") and "running" not in k)
    assert trunk - sum(1 for k in state if k.startswith("imgnet.") and "num_batches" in k) == 11176512


def test_front_end_treats_silence_and_stereo_like_any_waveform(checkpoint):
    adapter = load_adapter("ezvsl", {"checkpoint": str(checkpoint)})
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal((1, 48000))).astype(np.float32)
    silence = adapter.audio_inputs(adapter.fit_wave(np.zeros((1, 48000)))[None])
    assert silence.shape == (1, 1, 257, 200)
    np.testing.assert_allclose(silence, np.log(1e-7) / 12, rtol=1e-6)  # the log is applied: not zeros
    mono = adapter.audio_inputs(adapter.fit_wave(clip)[None])
    stereo = adapter.audio_inputs(adapter.fit_wave(np.concatenate([clip, clip]))[None])
    np.testing.assert_allclose(stereo, mono, rtol=1e-6)


def test_a_slavc_checkpoint_given_as_ezvsl_names_slavc(tmp_path):
    with pytest.raises(InputError, match=r"does not match the ezvsl model: .*closest zoo model by key overlap: slavc"):
        load_adapter("ezvsl", {"checkpoint": str(save_checkpoint(tmp_path / "slavc.pth", heads=2))})


def test_unexpected_keys_are_reported_and_a_key_map_fixes_them(tmp_path):
    path = save_checkpoint(tmp_path / "extra.pth", extra={"module.queue": torch.zeros(3)})
    with pytest.raises(InputError, match=r"1 unexpected \(e\.g\. \['queue'\]\).*--model-opt key_map"):
        load_adapter("ezvsl", {"checkpoint": str(path)})
    (tmp_path / "keys.py").write_text("def drop_queue(key):\n    return None if 'queue' in key else key[7:]\n")
    adapter = load_adapter("ezvsl", {"checkpoint": str(path), "key_map": f"{tmp_path / 'keys.py'}:drop_queue"})
    assert adapter.net.heads == [""]


def test_eval_runs_the_adapter_end_to_end_with_model_opt(cli, tmp_path, checkpoint):
    recipe = validate_data(
        Recipe,
        {
            "name": "tiny",
            "seed": 1,
            "source": {"kind": "demo", "images": 2, "root": str(tmp_path / "demo")},
            "negatives": [{"kind": "silence"}, {"kind": "noise", "color": "white", "level": {"sigma": 1.0}}],
        },
    )
    build(recipe, tmp_path / "build", options=BuildOptions())
    out = tmp_path / "out"
    args = ["--model", "ezvsl", "--model-opt", f"checkpoint={checkpoint}", "--device", "cpu", "--batch", "4"]
    result = cli("eval", tmp_path / "build", *args, "--gallery", "1", "--bootstrap", "0", "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["device"] == "cpu" and report["counts"]["items"] == 12
    with np.load(out / "predictions.npz") as maps:
        assert len(maps.files) == 12 and all(maps[k].shape == (7, 7) for k in maps.files)
