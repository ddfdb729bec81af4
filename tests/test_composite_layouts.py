"""The two other object layouts of a composite bank: COCO instance annotations (polygons, compressed and
uncompressed RLE; crowds and tiny instances skipped and counted) and image + binary-mask pairs (by folder or by
an index). Each cut-out's alpha is checked against the mask it was given, then a bank is built end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from pycocotools import mask as coco_mask

import negaudio
from negaudio.media import compose
from negaudio.sources.composite import CompositeSource, Config
from negaudio.sources.demo import class_sound

SOUNDS = ("bell", "drum", "whistle")


def add_sounds(root: Path, classes=SOUNDS) -> None:
    rng = np.random.default_rng(5)
    for label in classes:
        (root / "audio" / label).mkdir(parents=True)
        sf.write(root / "audio" / label / f"{label}.wav", class_sound(label, rng, 1.0, 16000), 16000)


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def rect(x0, y0, x1, y1) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


@pytest.fixture(scope="module")
def coco_bank(tmp_path_factory) -> tuple[Path, dict[int, np.ndarray]]:
    """Two images; a one-part and a two-part polygon, a compressed and an uncompressed RLE, a crowd and a tiny
    instance. Returns the bank and the expected full-image mask of every kept annotation."""
    root = tmp_path_factory.mktemp("coco") / "bank"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, (w, h) in (("scene0.jpg", (120, 100)), ("scene1.png", (90, 110))):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "images" / name)
    yy, xx = np.mgrid[:100, :120]
    ellipse = ((xx - 60) / 35.0) ** 2 + ((yy - 55) / 25.0) ** 2 <= 1
    yy, xx = np.mgrid[:110, :90]
    blob = (((xx - 40) / 20.0) ** 2 + ((yy - 60) / 30.0) ** 2 <= 1) | ((xx >= 50) & (xx < 70) & (yy >= 10) & (yy < 30))
    compressed = coco_mask.encode(np.asfortranarray(ellipse.astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [rect(10, 10, 70, 60)]},
        {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "segmentation": compressed},
        {"id": 3, "image_id": 2, "category_id": 3, "iscrowd": 0, "segmentation": uncompressed_rle(blob)},
        {
            "id": 4,
            "image_id": 2,
            "category_id": 1,
            "iscrowd": 0,
            "segmentation": [rect(5, 5, 25, 45), rect(40, 80, 80, 100)],  # two parts of one instance
        },
        {"id": 5, "image_id": 2, "category_id": 2, "iscrowd": 1, "segmentation": uncompressed_rle(blob)},
        {"id": 6, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": [rect(100, 80, 103, 83)]},
    ]
    data = {
        "images": [
            {"id": 1, "file_name": "scene0.jpg", "width": 120, "height": 100},
            {"id": 2, "file_name": "scene1.png", "width": 90, "height": 110},
        ],
        "categories": [{"id": 1, "name": "bell"}, {"id": 2, "name": "drum"}, {"id": 3, "name": "whistle"}],
        "annotations": annotations,
    }
    (root / "instances.json").write_text(json.dumps(data))
    add_sounds(root)
    two_part = np.zeros((110, 90), bool)
    two_part[5:45, 5:25] = two_part[80:100, 40:80] = True
    rect_mask = np.zeros((100, 120), bool)
    rect_mask[10:60, 10:70] = True
    return root, {1: rect_mask, 2: ellipse, 3: blob, 4: two_part}


def cut_alpha(root: Path, cut) -> np.ndarray:
    """A bank cut-out as the renderer reads it: its alpha (binary for mask and RLE layouts) over its crop."""
    obj = {"cutout": cut.path, "alpha": cut.alpha, "crop": list(cut.crop)}
    return np.asarray(compose.cutout(root, obj).getchannel("A"))


def check_cutout(root: Path, cut, expected: np.ndarray) -> None:
    """The cut-out's alpha is exactly ``expected`` (a full-image mask) within the crop, which is its tight box."""
    alpha = cut_alpha(root, cut)
    assert set(np.unique(alpha)) <= {0, 255}
    assert list(cut.crop) == compose.mask_box(expected)
    x0, y0, x1, y1 = cut.crop
    assert np.array_equal(alpha == 255, expected[y0:y1, x0:x1])
    assert int((alpha == 255).sum()) == int(expected.sum())


def coco_config(**extra) -> dict:
    return {
        "kind": "composite",
        "images": 6,
        "objects": {"layout": "coco", "min_area": 100},
        "backgrounds": {"procedural": "clouds"},
        "scale": {"uniform": [0.2, 0.35]},
        "max_occluded": 0.6,
        **extra,
    }


def test_coco_polygons_and_rle_decode_to_their_masks_and_crowds_and_tiny_ones_are_counted(coco_bank):
    root, expected = coco_bank
    source = CompositeSource(root, Config(**coco_config()))
    bank = source.bank
    assert sorted(bank.objects) == ["bell", "drum", "whistle"]
    assert [len(bank.objects[c]) for c in ("bell", "drum", "whistle")] == [2, 1, 1]
    assert bank.skipped == {"coco crowd annotation": 1, "coco instance under min_area": 1}
    assert int(expected[1].sum()) == 3000  # the rectangle [10, 70) x [10, 60): pycocotools' polygon rule
    bell_rect, bell_two = bank.objects["bell"]  # in annotation id order
    for cut, ann in ((bell_rect, 1), (bank.objects["drum"][0], 2), (bank.objects["whistle"][0], 3), (bell_two, 4)):
        assert "rle" in cut.alpha
        check_cutout(root, cut, expected[ann])
    assert bell_rect.path == "images/scene0.jpg" and bell_two.path == "images/scene1.png"
    list(source.samples())
    assert source.report.missing == bank.skipped


def test_a_coco_bank_builds_end_to_end(cli, write_recipe, coco_bank, tmp_path):
    root, _ = coco_bank
    out = tmp_path / "b"
    result = cli("build", write_recipe(source=coco_config()), "-o", out, "--source", root)
    assert result.exit_code == 0, result.output
    b = negaudio.open_build(out)
    positives = [r for r in b if r.kind == "positive"]
    assert len(positives) == 12
    skipped = {"coco crowd annotation": 1, "coco instance under min_area": 1}
    assert b.info["source"]["bank"]["objects_layout"] == "coco"
    assert b.info["source"]["bank"]["skipped"] == skipped and b.info["source"]["report"]["missing"] == skipped
    for record in positives:
        (target,) = record.composite.targets
        obj = record.composite.objects[target]
        assert obj.cutout.startswith("images/scene") and obj.visible_area >= 64
        assert int((b.load_mask(record) > 0.5).sum()) == obj.visible_area
    assert cli("verify", out).exit_code == 0


def write_mask(path: Path, mask: np.ndarray, soft: bool = False) -> None:
    """A binary mask file: 1-bit, or 8-bit grey with soft values either side of 127 (binarised > 127)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if soft:
        Image.fromarray(np.where(mask, 200, 60).astype(np.uint8), mode="L").save(path)
    else:
        Image.fromarray(mask).convert("1").save(path)


@pytest.fixture(scope="module")
def mask_bank(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """``images/<class>/<name>.*`` with ``masks/<class>/<name>.png`` (the AVSBench S4 and IS3 gt_masks
    layouts), one empty mask (skipped, counted), and the same pairs listed in an index."""
    root = tmp_path_factory.mktemp("masks") / "bank"
    rng = np.random.default_rng(2)
    expected = {}
    yy, xx = np.mgrid[:96, :128]
    for k, label in enumerate(SOUNDS):
        mask = ((xx - 50 - 5 * k) / (25 + 4 * k)) ** 2 + ((yy - 45) / (20 + 3 * k)) ** 2 <= 1
        suffix = ".jpg" if k == 0 else ".png"
        image = root / "images" / label / f"{label}_1{suffix}"
        image.parent.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(image)
        write_mask(root / "masks" / label / f"{label}_1.png", mask, soft=k == 1)
        expected[f"images/{label}/{label}_1{suffix}"] = mask
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(root / "images" / "drum" / "empty.png")
    write_mask(root / "masks" / "drum" / "empty.png", np.zeros((96, 128), bool))
    lines = ["image,mask,label"]
    for rel in sorted(expected):
        label, name = Path(rel).parent.name, Path(rel).stem
        lines.append(f"{rel},masks/{label}/{name}.png,{label}")
    (root / "pairs.csv").write_text("\n".join(lines) + "\n")
    add_sounds(root)
    (root / "backgrounds").mkdir()
    Image.fromarray(rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)).save(root / "backgrounds" / "bg.png")
    return root, expected


@pytest.mark.parametrize("index", [None, "pairs.csv"], ids=["folders", "index"])
def test_image_and_mask_pairs_give_cutouts_whose_alpha_is_the_mask(mask_bank, index):
    root, expected = mask_bank
    source = CompositeSource(root, Config(kind="composite", objects={"layout": "masks", "index": index}))
    bank = source.bank
    assert sorted(bank.objects) == sorted(SOUNDS)
    assert bank.skipped == ({} if index else {"empty object mask": 1})
    for label, cuts in bank.objects.items():
        (cut,) = cuts
        assert cut.alpha == {"mask": f"masks/{label}/{Path(cut.path).stem}.png"}
        check_cutout(root, cut, expected[cut.path])


def test_a_mask_pairs_bank_builds_end_to_end(cli, write_recipe, mask_bank, tmp_path):
    root, _ = mask_bank
    out = tmp_path / "b"
    source = {"kind": "composite", "images": 4, "objects": {"layout": "masks"}, "max_occluded": 0.6}
    result = cli("build", write_recipe(source=source), "-o", out, "--source", root)
    assert result.exit_code == 0, result.output
    b = negaudio.open_build(out)
    positives = [r for r in b if r.kind == "positive"]
    assert len(positives) == 8
    assert b.info["source"]["bank"]["skipped"] == {"empty object mask": 1}
    for record in positives:
        (target,) = record.composite.targets
        obj = record.composite.objects[target]
        assert obj.cutout.startswith("images/") and int((b.load_mask(record) > 0.5).sum()) == obj.visible_area
    assert cli("verify", out).exit_code == 0
