"""`negaudio.torch`: the item Dataset over a build and over its export (real torch, real `datasets`), collate."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import negaudio
from negaudio.core.errors import InputError
from negaudio.export import hub
from tests.conftest import BASE_RECIPE

KINDS = ["noise", "positive"]


def run_python(code: str, *args, home: Path | None = None) -> subprocess.CompletedProcess:
    """A fresh interpreter (offline, with an empty HF_HOME when given: a stale cache cannot answer)."""
    env = dict(os.environ)
    if home is not None:
        env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(home)}
        env.pop("HF_DATASETS_CACHE", None)
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def test_importing_negaudio_and_reading_a_build_never_imports_torch(built):
    code = (
        "import sys, negaudio\n"
        "b = negaudio.open_build(sys.argv[1])\n"
        "s = next(b.filter(kind='silence').samples())\n"
        "b.load_image(s.positive); b.load_audio(s.positive); b.load_mask(s.positive)\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    done = run_python(code, built)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_torch_the_error_names_the_extra():
    done = run_python(
        "import sys; sys.modules['torch'] = None\n"
        "from negaudio.core.errors import InputError\n"
        "try:\n    import negaudio.torch\nexcept InputError as exc:\n    print('error:', exc)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "error: negaudio.torch needs torch: pip install 'negaudio[torch]'"


@pytest.fixture(scope="module")
def built(demo_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("torch")
    recipe = root / "recipe.yaml"
    recipe.write_text(json.dumps(BASE_RECIPE))
    negaudio.build(recipe, root / "b", source=demo_root)
    return root / "b"


def _digest(t) -> str | None:
    return None if t is None else hashlib.sha256(t.numpy().tobytes()).hexdigest()


def _summary(item: dict) -> list:
    record = item["record"]
    shapes = [list(item["image"].shape), list(item["audio"].shape), str(item["image"].dtype), str(item["audio"].dtype)]
    return [_digest(item["image"]), _digest(item["audio"]), _digest(item["mask"]), item["sample_rate"], *shapes] + [
        record[k] for k in ("sample_id", "group", "kind", "name", "label", "heard_label", "params", "rendered")
    ]


def test_items_of_a_build_are_its_media_as_tensors(built):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install negaudio[torch])")
    from negaudio.torch import ItemDataset

    build = negaudio.open_build(built)
    ds = ItemDataset(built, kind=KINDS)
    assert len(ds) == 36 and len(ItemDataset(build.filter(kind=KINDS))) == 36
    ids = [r.item_id for r in build if r.kind in KINDS]
    for i in (0, 1, len(ds) - 1, -1):
        item = ds[i]
        record = build[ids[i]]
        assert item["record"]["item_id"] == record.item_id and item["record"]["audio"]["path"] == record.audio.path
        assert item["image"].dtype == torch.float32
        assert item["image"].shape == (3, record.image.height, record.image.width)
        assert torch.equal(item["image"], torch.from_numpy(build.load_image(record)).permute(2, 0, 1) / 255)
        assert float(item["image"].min()) >= 0 and float(item["image"].max()) <= 1
        assert item["audio"].dtype == torch.float32 and np.array_equal(item["audio"].numpy(), build.load_audio(record))
        assert np.array_equal(item["mask"].numpy(), build.load_mask(record))
        assert item["sample_rate"] == record.audio.sample_rate == 16000
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(InputError, match="unknown name nope; the names here: noise-pink-rms-30"):
        ItemDataset(built, name="nope")
    with pytest.raises(InputError, match="neither a negaudio build"):
        ItemDataset(built.parent)
    with pytest.raises(InputError, match="build folder not found"):
        ItemDataset(built.parent / "nowhere")
    with pytest.raises(InputError, match="cannot read items from a int"):
        ItemDataset(3)


def test_collate_pads_audio_and_stacks_or_lists_images(built):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install negaudio[torch])")
    from torch.utils.data import DataLoader

    from negaudio.torch import ItemDataset, collate

    ds = ItemDataset(built, name="positive")
    items = [ds[i] for i in range(4)]
    lengths = [it["audio"].shape[1] for it in items]
    assert len(set(lengths)) > 1  # the demo's clips differ in length
    batch = collate(items)
    assert batch["audio"].shape == (4, 1, max(lengths)) and batch["lengths"].tolist() == lengths
    for i, it in enumerate(items):
        assert torch.equal(batch["audio"][i, :, : lengths[i]], it["audio"])
        assert not batch["audio"][i, :, lengths[i] :].any()
    assert batch["image"].shape == (4, *items[0]["image"].shape) and batch["mask"].shape == (4, *items[0]["mask"].shape)
    assert batch["has_mask"].tolist() == [True] * 4 and batch["sample_rate"].tolist() == [16000] * 4
    assert [r["item_id"] for r in batch["record"]] == [it["record"]["item_id"] for it in items]

    items[1] = {**items[1], "mask": None}  # an item without regions: zeros, and has_mask says so
    batch = collate(items)
    assert batch["has_mask"].tolist() == [True, False, True, True] and not batch["mask"][1].any()
    assert torch.equal(batch["mask"][0], items[0]["mask"])

    items[2] = {**items[2], "image": items[2]["image"][:, :100], "mask": items[2]["mask"][:100]}
    batch = collate(items)
    assert isinstance(batch["image"], list) and isinstance(batch["mask"], list)
    assert batch["image"][2].shape[1] == 100 and batch["mask"][1] is None and batch["mask"][2].shape[0] == 100

    items[3] = {**items[3], "audio": items[3]["audio"].repeat(2, 1)}
    with pytest.raises(ValueError, match=r"\[1, 2\] channels"):
        collate(items)

    batches = list(DataLoader(ds, batch_size=5, collate_fn=collate))
    assert [len(b["record"]) for b in batches] == [5, 5, 2]


# Reads an export through ItemDataset from its folder and from a datasets.Dataset, in a fresh offline interpreter.
EXPORT_SCRIPT = r"""
import json, sys
import datasets
from negaudio.core.errors import InputError
from negaudio.torch import ItemDataset
from tests.test_torch_dataset import KINDS, _summary

folder = sys.argv[1]
out = {}
sources = {"folder": folder, "dataset": datasets.load_dataset(folder, split="test")}
sources["dict"] = datasets.load_dataset(folder)  # a DatasetDict of the one split
for label, source in sources.items():
    ds = ItemDataset(source, kind=KINDS)
    out[label] = {ds[i]["record"]["item_id"]: _summary(ds[i]) for i in range(len(ds))}
try:
    ItemDataset(folder, kind="nope")
except InputError as exc:
    out["error"] = str(exc)
try:
    ItemDataset(datasets.DatasetDict({"test": sources["dataset"], "train": sources["dataset"]}))
except InputError as exc:
    out["splits"] = str(exc)
print(json.dumps(out))
"""


def test_items_of_an_export_equal_those_of_its_build(built, tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (pip install negaudio[torch])")
    pytest.importorskip("datasets", reason="the datasets package is not installed (pip install negaudio[dev])")
    from negaudio.torch import ItemDataset

    hub.export(built, tmp_path / "hf")
    done = run_python(EXPORT_SCRIPT, tmp_path / "hf", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    ds = ItemDataset(built, kind=KINDS)
    expected = {ds[i]["record"]["item_id"]: _summary(ds[i]) for i in range(len(ds))}
    assert len(expected) == 36
    assert loaded["folder"] == expected and loaded["dataset"] == expected and loaded["dict"] == expected
    known = "noise, offscreen, positive, silence"
    assert loaded["error"] == f"{tmp_path / 'hf'}: unknown kind nope; the kinds here: {known}"
    assert loaded["splits"] == "the dataset has the splits test, train: pass one, e.g. dataset['test']"
