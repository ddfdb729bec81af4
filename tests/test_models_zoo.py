"""The six zoo adapters on random weights saved in the authors' layouts (tests/zoo_keys.py): loading, strict key
matching, map shapes and ranges, one front-end for every negative kind, object-guided maps, CPU vs CUDA."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo_keys import layout, random_state, resnet18, save_checkpoint, wrap  # noqa: E402

from negaudio.core.errors import InputError  # noqa: E402
from negaudio.eval.adapters import load_adapter  # noqa: E402
from negaudio.eval.models.registry import ZOO  # noqa: E402

MODELS = list(ZOO)
GRID = {"ezvsl": 7, "slavc": 7, "fnac": 7, "lvs": 14, "ssl-align": 14, "ssl-tie": 14}
KINDS = ["positive", "silence", "noise", "offscreen"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    return {m: save_checkpoint(folder / f"{m}.pth", m) for m in MODELS}


def batch(adapter, n: int = 4, seed: int = 0):
    """Images, windowed waves (through ``fit_wave``, one length per clip) and records of kinds KINDS."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 3, 224, 224), dtype=np.float32)
    clips = [0.1 * rng.standard_normal((1, 16000 * (2 + i))) for i in range(n)]
    clips[1][:] = 0.0
    waves = np.stack([adapter.fit_wave(c) for c in clips])
    return images, waves, [SimpleNamespace(kind=KINDS[i % 4]) for i in range(n)]


@pytest.mark.parametrize("model", MODELS)
def test_published_layout_loads_and_maps_have_the_model_grid_and_range(model, checkpoints):
    adapter = load_adapter(model, {"checkpoint": str(checkpoints[model])})
    adapter.setup(None, "cpu")
    images, waves, records = batch(adapter, 2)
    maps = adapter(images, waves, records)
    assert maps.shape == (2, GRID[model], GRID[model]) and maps.dtype == torch.float32
    low = 0.0 if ZOO[model].family == "dual" else -1.0
    assert maps.min() >= low and maps.max() <= 1.0
    np.testing.assert_array_equal(adapter(images, waves, records).numpy(), maps.numpy())
    for i in range(2):
        one = adapter(images[i : i + 1], waves[i : i + 1], records[i : i + 1])[0]
        np.testing.assert_allclose(one.numpy(), maps[i].numpy(), atol=1e-5)
    assert adapter.provenance["checkpoint"]["ignored_keys"] == 0 and adapter.provenance["compat"] is None


@pytest.mark.parametrize("model", MODELS)
def test_every_kind_goes_through_one_front_end_unless_compat(model, checkpoints):
    adapter = load_adapter(model, {"checkpoint": str(checkpoints[model])})
    _, waves, records = batch(adapter)
    feats = adapter.audio_inputs(waves, records)
    for i, r in enumerate(records):  # the kind does not change the input: each item alone, as a positive
        alone = adapter.audio_inputs(waves[i : i + 1], [SimpleNamespace(kind="positive")])
        np.testing.assert_array_equal(alone[0], feats[i], err_msg=r.kind)
    compat = load_adapter(model, {"checkpoint": str(checkpoints[model]), "compat": "vssl_eval"})
    bugged = compat.audio_inputs(waves, records)
    for i, r in enumerate(records):  # LVS/SSL-Align took the log of every input, the others not of these
        skipped = ZOO[model].compat_raw and r.kind in ("silence", "noise")
        assert np.array_equal(bugged[i], feats[i]) != skipped, r.kind
    assert (bugged[1] == 0).all() == ZOO[model].compat_raw  # silence: zeros instead of log(eps)
    assert compat.provenance["compat"]["bug_reproduction"] is True


def test_slavc_checkpoint_with_momentum_encoders_loads(checkpoints):
    """A real SLAVC checkpoint holds 248 momentum_* keys besides the two heads."""
    keys = layout("slavc")
    assert sum(k.startswith("momentum_") for k in keys) == 248
    adapter = load_adapter("slavc", {"checkpoint": str(checkpoints["slavc"])})
    assert adapter.net.heads == ["1", "2"]
    momentum = load_adapter("slavc", {"checkpoint": str(checkpoints["slavc"]), "use_momentum": "true"})
    images, waves, records = batch(adapter, 2)
    plain, mom = adapter(images, waves, records), momentum(images, waves, records)
    assert not torch.equal(plain, mom)  # the momentum copies hold other (random) weights


@pytest.mark.parametrize("model", MODELS)
def test_a_missing_key_is_refused_naming_it_and_the_closest_model(model, tmp_path):
    state = random_state(layout(model))
    del state["imgnet.layer3.0.conv1.weight"]
    path = tmp_path / "broken.pth"
    torch.save(wrap(model, state), path)
    with pytest.raises(InputError, match=r"1 missing keys \(e\.g\. \['imgnet\.layer3\.0\.conv1\.weight'\]\)") as err:
        load_adapter(model, {"checkpoint": str(path)})
    twins = {
        "ezvsl": "ezvsl or fnac",
        "fnac": "ezvsl or fnac",
        "lvs": "lvs or ssl-align",
        "ssl-align": "lvs or ssl-align",
    }
    assert f"closest zoo model by key overlap: {twins.get(model, model)} (" in str(err.value)


@pytest.mark.parametrize("model", MODELS)
def test_unexpected_keys_are_refused_except_where_the_reference_ignored_them(model, tmp_path):
    path = save_checkpoint(tmp_path / "extra.pth", model, extra={"txt_proj.weight": torch.zeros(3, 4)})
    if ZOO[model].ignore_unexpected:
        adapter = load_adapter(model, {"checkpoint": str(path)})
        assert adapter.provenance["checkpoint"]["ignored_keys"] == 1
    else:
        with pytest.raises(InputError, match=r"0 missing keys, 1 unexpected .*txt_proj\.weight"):
            load_adapter(model, {"checkpoint": str(path)})


def test_lvs_family_loads_a_partial_checkpoint_of_the_keys_the_map_reads(tmp_path):
    """LVS/SSL-Align update the model's own state dict with the checkpoint: unused stems and fc may be absent."""
    state = {k: v for k, v in random_state(layout("ssl-align")).items() if "fc." not in k and "conv1_flow" not in k}
    path = tmp_path / "partial.pth"
    torch.save(wrap("ssl-align", state), path)
    adapter = load_adapter("ssl-align", {"checkpoint": str(path)})
    assert (
        adapter.provenance["checkpoint"]["absent_unused_keys"] == 6
    )  # fc.weight, fc.bias, conv1_flow.weight, both trunks


def test_training_metadata_beside_the_weights_loads_as_data(tmp_path):
    """EZ-VSL-style checkpoints keep the run's args and best scores (numpy scalars) next to the state dict."""
    import argparse

    saved = wrap("ezvsl", random_state(layout("ezvsl"))) | {
        "args": argparse.Namespace(lr=1e-4, out_dim=32),
        "best_cIoU": np.float64(0.38),
        "best_Auc": np.float32(0.39),
    }
    torch.save(saved, tmp_path / "ezvsl.pth")
    assert load_adapter("ezvsl", {"checkpoint": str(tmp_path / "ezvsl.pth")}).net.heads == [""]


def test_a_checkpoint_of_another_model_names_it(checkpoints):
    with pytest.raises(
        InputError, match=r"does not match the lvs model: .*closest zoo model by key overlap: ezvsl or fnac \(100%\)"
    ):
        load_adapter("lvs", {"checkpoint": str(checkpoints["ezvsl"])})
    with pytest.raises(InputError, match=r"closest zoo model by key overlap: ssl-tie \(100%\)"):
        load_adapter("lvs", {"checkpoint": str(checkpoints["ssl-tie"])})


def test_shape_mismatch_and_bad_options_are_input_errors(tmp_path, checkpoints):
    state = random_state(layout("lvs"))
    state["audnet.conv1_a.weight"] = torch.zeros(64, 2, 7, 7)
    torch.save(wrap("lvs", state), tmp_path / "shape.pth")
    with pytest.raises(InputError, match=r"audnet\.conv1_a\.weight \(64, 2, 7, 7\) \(expected \(64, 1, 7, 7\)\)"):
        load_adapter("lvs", {"checkpoint": str(tmp_path / "shape.pth")})
    with pytest.raises(InputError, match="needs the authors' checkpoint: --checkpoint FILE"):
        load_adapter("fnac")
    with pytest.raises(InputError, match="expected one of none, vssl_eval"):
        load_adapter("fnac", {"checkpoint": str(checkpoints["fnac"]), "compat": "lvs"})
    with pytest.raises(InputError, match="checkpoint not found"):
        load_adapter("fnac", {"checkpoint": str(tmp_path / "absent.pth")})
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_adapter("fnac", {"checkpoint": str(tmp_path / "junk.pth")})


@pytest.mark.parametrize("model", ["ezvsl", "lvs"])
def test_object_guided_maps_blend_the_imagenet_object_map(model, checkpoints, tmp_path):
    ogl = tmp_path / "resnet18-f37072fd.pth"
    torch.save(random_state(resnet18("", {"conv1": 3}, fc=True), seed=3), ogl)  # torchvision's plain layout
    plain = load_adapter(model, {"checkpoint": str(checkpoints[model])})
    guided = load_adapter(model, {"checkpoint": str(checkpoints[model]), "ogl": str(ogl)})
    images, waves, records = batch(plain, 2)
    p, g = plain(images, waves, records), guided(images, waves, records)
    assert g.shape == p.shape
    obj = (g - 0.4 * p) / 0.6
    assert (obj > 0).all()  # mean |feature|
    if model == "ezvsl":  # same 7x7 grid: the object map itself, from the trunk's features
        from negaudio.eval.models.frontends import normalize_images

        with torch.no_grad():
            feats = guided.object_net(torch.from_numpy(normalize_images(images)))
        np.testing.assert_allclose(obj.numpy(), feats.abs().mean(1).numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(InputError, match="not torchvision's ImageNet resnet18 checkpoint"):
        load_adapter(model, {"checkpoint": str(checkpoints[model]), "ogl": str(checkpoints[model])})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CPU-vs-CUDA equality runs on a GPU machine")
@pytest.mark.parametrize("model", MODELS)
def test_cuda_maps_equal_cpu_maps(model, checkpoints):
    cpu = load_adapter(model, {"checkpoint": str(checkpoints[model])})
    cpu.setup(None, "cpu")
    images, waves, records = batch(cpu)
    ref = cpu(images, waves, records).numpy()
    exact = load_adapter(model, {"checkpoint": str(checkpoints[model]), "amp": "false"})
    exact.setup(None, "cuda")
    np.testing.assert_allclose(exact(images, waves, records).cpu().numpy(), ref, atol=1e-4)
    fast = load_adapter(model, {"checkpoint": str(checkpoints[model])})
    fast.setup(None, "cuda")
    np.testing.assert_allclose(fast(images, waves, records).cpu().numpy(), ref, atol=2e-2)


def test_ieee_float32_turns_tf32_off_inside_and_restores_the_callers_settings():
    from negaudio.eval.models.adapter import ieee_float32

    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = conv.fp32_precision, matmul.fp32_precision
    conv.fp32_precision = matmul.fp32_precision = "tf32"  # the newer API: reading allow_tf32 now raises
    try:
        with pytest.raises(KeyError), ieee_float32():
            assert conv.fp32_precision == matmul.fp32_precision == "ieee"
            raise KeyError("inside")
        assert conv.fp32_precision == matmul.fp32_precision == "tf32"
    finally:
        conv.fp32_precision, matmul.fp32_precision = before


def test_a_checkpoint_without_tensors_says_where_a_state_dict_may_be(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"x": 1, "epoch": 3}, path)
    with pytest.raises(InputError, match=r"holds no tensor \(keys \['epoch', 'x'\]\).*under one of 'model'"):
        load_adapter("ezvsl", {"checkpoint": str(path)})
