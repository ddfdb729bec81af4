"""The EZ-VSL/SLAVC adapter on a randomly initialised checkpoint: key layout, front-end, determinism, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from negaudio.builder import BuildOptions, build  # noqa: E402
from negaudio.core.errors import InputError  # noqa: E402
from negaudio.eval.ezvsl import EzVsl, log_spectrogram  # noqa: E402
from negaudio.eval.resnet import DualEncoder  # noqa: E402
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


def inputs(batch: int = 3):
    rng = np.random.default_rng(0)
    images = rng.random((batch, 3, 224, 224), dtype=np.float32)
    waves = (0.1 * rng.standard_normal((batch, 1, 48000))).astype(np.float32)
    waves[1] = 0.0  # silence
    return images, waves


def test_state_dict_uses_torchvision_names():
    state = DualEncoder(dim=32).state_dict()
    assert state["audnet.conv1.weight"].shape == (64, 1, 7, 7)
    assert state["imgnet.conv1.weight"].shape == (64, 3, 7, 7)
    assert state["imgnet.layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert "imgnet.layer4.1.bn2.running_var" in state and "imgnet.layer1.0.downsample.0.weight" not in state
    assert state["img_proj.weight"].shape == (32, 512, 1, 1) and state["aud_proj.weight"].shape == (32, 512)
    assert (
        sum(
            v.numel()
            for k, v in state.items()
            if k.startswith("imgnet.") and "running" not in k and "num_batches" not in k
        )
        == 11176512
    )


def test_maps_are_7x7_in_unit_range_deterministic_and_independent_of_the_batch(checkpoint):
    adapter = EzVsl(checkpoint)
    adapter.setup(None, "cpu")
    images, waves = inputs()
    out = adapter(images, waves, None)
    assert out.shape == (3, 7, 7) and out.dtype == torch.float32
    maps = out.numpy()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    np.testing.assert_array_equal(adapter(images, waves, None).numpy(), maps)
    for i in range(3):
        np.testing.assert_allclose(adapter(images[i : i + 1], waves[i : i + 1], None)[0].numpy(), maps[i], atol=1e-5)


def test_front_end_treats_silence_like_any_waveform():
    _, waves = inputs()
    spec = log_spectrogram(waves)
    assert spec.shape == (3, 1, 257, 200) and spec.dtype == np.float32
    np.testing.assert_allclose(spec[1], np.log(1e-7) / 12, rtol=1e-6)  # the log is applied: not zeros
    for i in range(3):
        np.testing.assert_array_equal(log_spectrogram(waves[i : i + 1])[0], spec[i])
    stereo = np.concatenate([waves, waves], axis=1)
    np.testing.assert_allclose(log_spectrogram(stereo), spec, rtol=1e-6)


def test_two_head_checkpoints_load_as_slavc(tmp_path):
    adapter = EzVsl(save_checkpoint(tmp_path / "slavc.pth", heads=2))
    assert adapter.model.head_names == ["1", "2"]
    images, waves = inputs(2)
    assert adapter(images, waves, None).shape == (2, 7, 7)


def test_unexpected_keys_are_reported_and_a_key_map_fixes_them(tmp_path):
    path = save_checkpoint(tmp_path / "extra.pth", extra={"module.queue": torch.zeros(3)})
    with pytest.raises(InputError, match=r"1 unexpected \(e\.g\. \['queue'\]\); map them with --model-opt key_map"):
        EzVsl(path)
    (tmp_path / "keys.py").write_text("def drop_queue(key):\n    return None if 'queue' in key else key[7:]\n")
    assert EzVsl(path, key_map=f"{tmp_path / 'keys.py'}:drop_queue").model.head_names == [""]
    with pytest.raises(InputError, match="checkpoint not found"):
        EzVsl(tmp_path / "absent.pth")


def test_eval_runs_the_adapter_end_to_end(cli, tmp_path, checkpoint):
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
    result = cli(
        "eval",
        tmp_path / "build",
        "--model",
        "ezvsl",
        "--model-opt",
        f"checkpoint={checkpoint}",
        "--device",
        "cpu",
        "--batch",
        "4",
        "--gallery",
        "1",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["device"] == "cpu" and report["counts"]["items"] == 12
    with np.load(out / "predictions.npz") as maps:
        assert len(maps.files) == 12 and all(maps[k].shape == (7, 7) for k in maps.files)
