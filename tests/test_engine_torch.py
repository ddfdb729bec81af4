"""The torch metric engine equals the numpy one (CPU always, CUDA where a GPU exists)."""

from __future__ import annotations

import numpy as np
import pytest

from negaudio.eval import metrics as M
from tests.test_engine import THRESHOLDS, hard_case

torch = pytest.importorskip("torch", reason="torch is not installed (negaudio[torch]): the torch engine is optional")


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


def torch_case(rng):
    pos, gt, others = hard_case(rng, b=4)
    soft = gt * np.float32(0.5)
    soft[0, 20:40, 30:60] = 1.0
    return pos, soft, others


def run_engine(maps, gt, others, to=lambda x: x):
    roles = {"silence": M.NEGATIVE, "noise": M.NOISY_POSITIVE}
    ev = M.NegativeAudioEvaluator(THRESHOLDS, roles)
    ev.update(
        to(maps),
        to(gt),
        {"silence": to(others["silence"][[0, 2]]), "noise": to(others["noise"])},
        present={"silence": [0, 2]},
    )
    return ev


@pytest.mark.parametrize("binary", [False, True])
def test_torch_engine_on_cpu_equals_numpy_engine(rng, binary):
    pos, gt, others = torch_case(rng)
    if binary:
        gt = gt > 0
    a = run_engine(pos, gt, others).per_item()
    b = run_engine(pos, gt, others, torch.from_numpy).per_item()
    for name in a:
        for key in a[name]:
            assert a[name][key].tolist() == b[name][key].tolist(), (name, key)


def test_torch_engine_checks_inputs(rng):
    pos, gt, others = torch_case(rng)
    ev = M.NegativeAudioEvaluator([M.median()], ("silence",))
    bad = torch.from_numpy(pos.copy())
    bad[2, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="positive maps contain NaN at batch index 2"):
        ev.update(bad, torch.from_numpy(gt))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        ev.update(torch.from_numpy(pos), torch.from_numpy(gt) * 3)
    with pytest.raises(TypeError, match="must be a torch tensor"):
        ev.update(torch.from_numpy(pos), torch.from_numpy(gt), {"silence": others["silence"]})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch on this machine")
def test_torch_engine_on_cuda_equals_cpu(rng):
    pos, gt, others = torch_case(rng)
    a = run_engine(pos, gt, others, torch.from_numpy).per_item()
    b = run_engine(pos, gt, others, lambda x: torch.from_numpy(x).cuda()).per_item()
    for name in a:
        for key in a[name]:
            assert a[name][key].tolist() == b[name][key].tolist(), (name, key)
