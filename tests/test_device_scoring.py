"""A model's maps scored on the device it ran on (device_scoring.py) give the report the CPU path gives from the
maps file: torch on the CPU always, CUDA where torch sees a GPU. The torch benchmark values and resizing equal
the numpy ones."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from negaudio.builder import BuildOptions, build  # noqa: E402
from negaudio.eval import benchmark_torch, device_scoring  # noqa: E402
from negaudio.eval.benchmark_metrics import NUMPY_OPS  # noqa: E402
from negaudio.eval.run import evaluate  # noqa: E402
from negaudio.eval.upsample import resize_bilinear, resize_bilinear_torch  # noqa: E402
from negaudio.recipe.io import validate_data  # noqa: E402
from negaudio.recipe.models import Recipe  # noqa: E402
from tests.test_eval_cli import make_build  # noqa: E402

ADAPTER = '''
import numpy as np
import torch

uses_torch = True


class Maps:
    """Maps of 14 x 14 from the image and the sound's energy (``sizes``: "mixed", 9 x 11 for every other item;
    "reuse", returned in one buffer that every batch overwrites; "iterator", as an iterator of maps)."""

    uses_torch = True

    def __init__(self, sizes="one"):
        self.mixed = sizes == "mixed"
        self.reuse = sizes == "reuse"  # one output buffer, overwritten by every batch
        self.iterator = sizes == "iterator"
        self.count = 0
        self.buffer = None

    def setup(self, build, device):
        self.device = torch.device(device)

    def __call__(self, images, waves, records):
        image = torch.from_numpy(images).to(self.device).mean(dim=1, keepdim=True)
        energy = torch.from_numpy(np.abs(waves).mean(axis=(1, 2))).to(self.device)
        maps = torch.nn.functional.adaptive_avg_pool2d(image, 14)[:, 0] * (0.2 + energy[:, None, None] * 5)
        ramp = torch.linspace(0, 0.3, 14, device=self.device)[None, :, None]
        maps = maps + ramp * torch.sin(torch.arange(len(records), device=self.device) + 1.0)[:, None, None]
        if self.reuse:
            if self.buffer is None:
                self.buffer = torch.empty((64, 14, 14), device=self.device)
            self.buffer[: len(maps)] = maps
            return self.buffer[: len(maps)]
        if self.iterator:
            return iter(list(maps))
        if not self.mixed:
            return maps
        out = []
        for m in maps:
            self.count += 1
            out.append(m[:9, :11] if self.count % 2 else m)
        return out
'''


@pytest.fixture(scope="module")
def build_dir(demo_root, tmp_path_factory) -> Path:
    return make_build(tmp_path_factory.mktemp("device") / "build", demo_root, limit=8)


@pytest.fixture
def adapter(tmp_path) -> str:
    path = tmp_path / "maps_adapter.py"
    path.write_text(ADAPTER)
    return f"{path}:Maps"


def run(build_dir: Path, out: Path, adapter: str, **options) -> tuple[dict, dict]:
    report = evaluate(build_dir, out, model=adapter, bootstrap=100, gallery=2, batch=3, **options)
    with (out / "items.csv").open() as fh:
        rows = {row["item_id"]: row for row in csv.DictReader(fh)}
    assert json.loads((out / "report.json").read_text())["model"] == report["model"]
    return report, rows


def close(a, b, path: str = "") -> list[str]:
    """Where two JSON-like values differ beyond float rounding (relative 1e-9); paths (the report folders) aside."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a if k != "path" for d in close(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        same = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        return [] if same else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def values(rows: dict) -> dict:
    """items.csv with its numbers as floats."""

    def number(v: str):
        try:
            return float(v)
        except ValueError:
            return v

    return {item: {k: number(v) for k, v in row.items()} for item, row in rows.items()}


def compare(cpu: tuple[dict, dict], device: tuple[dict, dict]) -> None:
    (a, rows_a), (b, rows_b) = cpu, device
    assert a["model"]["scored_on"] == "cpu"
    for key in ("metrics", "headline", "calibration", "thresholds", "counts"):
        assert not close(a[key], b[key], key)
    assert list(rows_a) == list(rows_b)  # items.csv in the same order
    assert not close(values(rows_a), values(rows_b), "items.csv")


@pytest.mark.parametrize("sizes", ["one", "mixed", "reuse", "iterator"])
def test_maps_scored_on_their_device_give_the_report_of_the_maps_file(build_dir, tmp_path, adapter, sizes, monkeypatch):
    opts = {"device": "cpu", "model_options": {"sizes": sizes}}
    cpu = run(build_dir, tmp_path / "cpu", adapter, **opts)
    scored = []
    original = device_scoring.score_on_device
    monkeypatch.setattr(device_scoring, "score_on_device", lambda *a: scored.append(a[2]) or original(*a))
    device = run(build_dir, tmp_path / "device", adapter, score_on_device=True, **opts)
    assert len(scored) == 1 and len(scored[0].maps) == 8 * 6  # the maps kept, scored on their device
    assert device[0]["model"]["scored_on"] == "cpu (torch)" and "scored_on_note" not in device[0]["model"]
    compare(cpu, device)
    assert (tmp_path / "device" / "predictions.npz").read_bytes() == (tmp_path / "cpu" / "predictions.npz").read_bytes()
    assert (tmp_path / "device" / "gallery.png").is_file()
    assert "maps scored on cpu (torch)" in (tmp_path / "device" / "report.md").read_text()


def test_maps_over_the_memory_budget_are_scored_from_the_maps_file(build_dir, tmp_path, adapter, monkeypatch):
    monkeypatch.setattr(device_scoring, "memory_budget", lambda device: 14 * 14 * 4 * 5)  # 5 maps
    scored = []
    monkeypatch.setattr(device_scoring, "score_on_device", lambda *a: scored.append(a))
    report, _ = run(build_dir, tmp_path / "out", adapter, device="cpu", score_on_device=True)
    assert not scored
    note = "the maps would take over 0 MiB, 25% of the cpu memory free: the maps file was scored on the cpu"
    assert report["model"]["scored_on"] == "cpu" and report["model"]["scored_on_note"] == note
    assert note in (tmp_path / "out" / "report.md").read_text()


def test_running_out_of_device_memory_while_scoring_scores_the_maps_file(build_dir, tmp_path, adapter, monkeypatch):
    cpu = run(build_dir, tmp_path / "cpu", adapter, device="cpu")

    def out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(device_scoring.DeviceMaps, "framed", out_of_memory)
    device = run(build_dir, tmp_path / "device", adapter, device="cpu", score_on_device=True)
    note = "cpu ran out of memory scoring the maps: the maps file was scored on the cpu"
    assert device[0]["model"]["scored_on"] == "cpu" and device[0]["model"]["scored_on_note"] == note
    compare(cpu, device)


def test_a_segmentation_build_gives_the_same_avsbench_values(tmp_path, adapter):
    recipe = {
        "name": "masks",
        "seed": 3,
        "source": {"kind": "demo", "images": 3, "root": str(tmp_path / "demo")},
        "negatives": [{"kind": "silence"}, {"kind": "noise", "color": "white", "level": {"sigma": 1.0}}],
        "positive_noise": {"color": "white", "snr_db": [10]},
    }
    build(validate_data(Recipe, recipe), tmp_path / "build", options=BuildOptions())
    cpu = run(tmp_path / "build", tmp_path / "cpu", adapter, device="cpu")
    device = run(tmp_path / "build", tmp_path / "device", adapter, device="cpu", score_on_device=True)
    assert cpu[0]["metrics"]["avsbench"]["positive"]["frames"] == 6
    compare(cpu, device)


def test_the_same_report_on_a_calibration_build_and_fixed_thresholds(build_dir, tmp_path, adapter):
    opts = {"device": "cpu", "thresholds": ("0.3", "median", "max"), "calibrate_on": build_dir}
    compare(
        run(build_dir, tmp_path / "cpu", adapter, **opts),
        run(build_dir, tmp_path / "dev", adapter, **opts, score_on_device=True),
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch on this machine")
def test_cuda_scoring_gives_the_cpu_report_of_the_same_maps(build_dir, tmp_path, adapter):
    cuda = run(build_dir, tmp_path / "cuda", adapter, device="cuda")
    assert cuda[0]["model"]["scored_on"] == "cuda"
    maps = tmp_path / "cuda" / "predictions.npz"  # the model's own maps (on CUDA they differ from its CPU maps)
    cpu = evaluate(build_dir, tmp_path / "cpu", predictions=maps, bootstrap=100, gallery=2, batch=3)
    with (tmp_path / "cpu" / "items.csv").open() as fh:
        rows = {row["item_id"]: row for row in csv.DictReader(fh)}
    compare((cpu | {"model": {"scored_on": "cpu"}}, rows), cuda)


def devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.mark.parametrize("device", devices())
def test_benchmark_values_equal_numpy(device):
    rng = np.random.default_rng(3)
    pred = rng.random((6, 20, 24)).astype(np.float32)
    pred[1] = np.round(pred[1] * 4) / 4  # ties with the F-measure thresholds and 0.5
    target = rng.random((6, 20, 24)) > 0.7
    target[2] = False  # an empty target: Jaccard of the empty area, a NaN curve
    t_pred, t_target = torch.from_numpy(pred).to(device), torch.from_numpy(target).to(device)
    assert np.array_equal(benchmark_torch.avs_jaccard(t_pred, t_target), NUMPY_OPS.avs_jaccard(pred, target))
    a = benchmark_torch.avs_fmeasure_curves(t_pred, t_target)
    assert np.array_equal(a, NUMPY_OPS.avs_fmeasure_curves(pred, target), equal_nan=True) and np.isnan(a[2]).all()
    for x, y in zip(
        benchmark_torch.avss_per_frame(t_pred > 0.5, t_target, 2),
        NUMPY_OPS.avss_per_frame(pred > 0.5, target, 2),
        strict=True,
    ):
        assert np.array_equal(x, y)
    flat = pred.reshape(6, -1)
    np.testing.assert_allclose(
        benchmark_torch.top_quarter_means(t_pred.reshape(6, -1)), NUMPY_OPS.top_quarter_means(flat), rtol=1e-12
    )


@pytest.mark.parametrize("device", devices())
def test_resizing_on_the_device_equals_numpy(device):
    maps = np.random.default_rng(4).random((3, 7, 9)).astype(np.float32)
    for h, w in ((224, 200), (7, 30), (5, 9)):
        torch_maps = resize_bilinear_torch(torch.from_numpy(maps).to(device), h, w).cpu().numpy()
        np.testing.assert_allclose(torch_maps, resize_bilinear(maps, h, w), rtol=1e-6)  # float64 sums' order


ODD = """
import numpy as np
import torch


class Odd:
    uses_torch = True

    def __init__(self, returns):
        self.returns = returns

    def __call__(self, images, waves, records):
        b = len(records)
        if self.returns == "numpy scalar":
            return np.float32(3)
        if self.returns == "torch scalar":
            return torch.tensor(3.0)
        if self.returns == "text":
            return "maps"
        if self.returns == "empty":
            return torch.zeros((b, 0, 5))
        if self.returns == "ragged":
            maps = np.empty(b, dtype=object)
            maps[:] = [np.ones((3 + i % 2, 4), dtype=np.float32) * i for i in range(b)]
            return maps
        return (self.fail(i) for i in range(b))

    def fail(self, i):
        raise ValueError("the decoder is empty")
"""


@pytest.mark.parametrize(
    ("returns", "error"),
    [
        ("numpy scalar", "returned float32, not maps"),
        ("torch scalar", "returned Tensor, not maps"),
        ("text", "returned str, not maps"),
        ("empty", "returned an empty map (shape (0, 5))"),
        ("generator", "the model raised ValueError: the decoder is empty"),
    ],
)
@pytest.mark.parametrize("on_device", [False, True])
def test_odd_adapter_outputs_are_one_error_on_either_path(build_dir, tmp_path, returns, error, on_device):
    from negaudio.core.errors import NegaudioError

    (tmp_path / "odd.py").write_text(ODD)
    options = {"model_options": {"returns": returns}, "device": "cpu", "score_on_device": on_device}
    with pytest.raises(NegaudioError, match=re.escape(error)):
        evaluate(build_dir, tmp_path / "out", model=f"{tmp_path / 'odd.py'}:Odd", **options)
    assert not (tmp_path / "out").exists()


def test_ragged_maps_of_an_object_array_score_on_either_path(build_dir, tmp_path):
    (tmp_path / "odd.py").write_text(ODD)
    spec, options = f"{tmp_path / 'odd.py'}:Odd", {"model_options": {"returns": "ragged"}, "device": "cpu"}
    compare(
        run(build_dir, tmp_path / "cpu", spec, **options),
        run(build_dir, tmp_path / "dev", spec, **options, score_on_device=True),
    )


def test_a_saved_calibration_names_the_model_not_where_its_maps_were_scored(build_dir, tmp_path, adapter):
    cal = tmp_path / "cal.json"
    report, _ = run(build_dir, tmp_path / "out", adapter, device="cpu", score_on_device=True, save_calibration=cal)
    assert report["model"]["scored_on"] == "cpu (torch)"
    assert json.loads(cal.read_text())["model"] == {"spec": adapter, "options": {}, "device": "cpu"}


def test_score_on_device_is_refused_for_a_predictions_file(build_dir, tmp_path):
    from negaudio.core.errors import InputError

    with pytest.raises(InputError, match="score_on_device applies to a model's maps"):
        evaluate(build_dir, tmp_path / "out", predictions=tmp_path / "p.npz", score_on_device=True)
