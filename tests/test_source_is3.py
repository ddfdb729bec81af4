"""The IS3 adapter: name parsing and grouping, 224-px boxes on real 1024-px images, masks, missing media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from negaudio.core.errors import InputError
from negaudio.media.masks import read_mask
from negaudio.sources import is3, open_source


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _real(shared_data: Path) -> tuple[Path, Path]:
    return shared_data / "samples" / "is3plus", shared_data / "annotations" / "is3_synthetic3240_bbox.json"


def test_real_samples_keep_the_intersection_and_both_classes_of_each_image(shared_data):
    root, annotations = _real(shared_data)
    source = open_source(is3.Config(kind="is3", annotations=annotations), root)
    samples = list(source.samples())
    assert len(samples) == 24 and source.report.kept == 24
    assert source.report.missing == {"image missing": 6480 - 24}
    by_id = {s.sample_id: s for s in samples}
    # only one annotation of each image is present here: the other target still counts as visible
    assert by_id["airplane_bus_1064_bus"].image_classes == ("airplane", "bus")
    assert by_id["airplane_bus_1064_bus"].group == "airplane_bus_1064"
    for s in samples:
        assert s.label in s.image_classes and len(s.image_classes) == 2
        (region,) = s.regions
        assert region.box_space == (224.0, 224.0) and region.mask is None


def test_real_build_scales_boxes_to_the_1024_px_images_and_excludes_both_objects(
    shared_data, cli, write_recipe, tmp_path
):
    root, annotations = _real(shared_data)
    recipe = write_recipe(source={"kind": "is3", "annotations": str(annotations)})
    out = tmp_path / "out"
    result = cli("build", recipe, "-o", out, "--source", root, "--limit", "6")
    assert result.exit_code == 0, result.output
    records = _manifest(out)
    gt = {Path(e["image"]).stem: e["gt_box"] for e in json.loads(annotations.read_text())}
    positives = [r for r in records if r["kind"] == "positive"]
    assert len(positives) == 6
    for r in positives:
        assert (r["image"]["width"], r["image"]["height"]) == (1024, 1024)
        expected = [v * 1024 / 224 for v in gt[r["sample_id"]]]
        assert r["regions"][0]["box"] == pytest.approx(expected)
        x1, y1, x2, y2 = (int(v) for v in expected)
        assert r["mask"]["area"] == (x2 - x1) * (y2 - y1)
        seconds = sf.info(root / "audio_wav" / f"{r['sample_id']}.wav").duration
        assert r["audio"]["duration_s"] == pytest.approx(seconds, abs=1 / 16000)
    offscreen = [r for r in records if r["kind"] == "offscreen"]
    assert len(offscreen) == 6
    for r in offscreen:
        assert r["heard_label"] not in r["image_classes"]


# --- look-alike fixtures ----------------------------------------------------------------------------------


def _write_media(root: Path, name: str, folder: str = "images", size=(448, 448)) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "audio_wav").mkdir(exist_ok=True)
    Image.new("RGB", size, (40, 40, 40)).save(root / folder / f"{name}.jpg")
    sf.write(root / "audio_wav" / f"{name}.wav", np.zeros(1600, dtype=np.float32), 16000)


def _entry(name: str, box=(0, 0, 112, 112)) -> dict:
    return {
        "image": f"/authors/machine/visual_frames/{name}.jpg",
        "audio": f"C:\\data\\audio_wav\\{name}.wav",
        "gt_box": list(box),
    }


IRREGULAR = [
    "fireworks_subwaytrain_10415_fireworks",
    "fireworks_subwaytrain_10415_subway",  # the target differs from the object token
    "chicken_beach_chicken",  # no numeric id
    "chicken_beach_ocean",
    "firingMusket_dog_capgun",  # mixed case
    "firingMusket_dog_dog",
]


def test_names_are_parsed_by_the_last_token_and_grouped_by_the_rest(tmp_path):
    for name in IRREGULAR:
        _write_media(tmp_path, name, folder="visual_frames")
    (tmp_path / "synthetic3240_bbox.json").write_text(json.dumps([_entry(n) for n in IRREGULAR]))
    samples = {s.sample_id: s for s in open_source(is3.Config(kind="is3"), tmp_path).samples()}
    assert samples.keys() == set(IRREGULAR)
    subway = samples["fireworks_subwaytrain_10415_subway"]
    assert (subway.label, subway.group, subway.image_classes) == (
        "subway",
        "fireworks_subwaytrain_10415",
        ("fireworks", "subway", "subwaytrain"),  # the image key's object names are visible too
    )
    assert samples["chicken_beach_chicken"].image_classes == ("beach", "chicken", "ocean")
    assert samples["firingMusket_dog_capgun"].image_classes == ("capgun", "dog", "firingMusket")
    assert subway.image == "visual_frames/fireworks_subwaytrain_10415_subway.jpg"


def test_masks_are_the_ground_truth_when_present(tmp_path):
    names = ["a_b_1_a", "a_b_1_b"]
    for name in names:
        _write_media(tmp_path, name)
    (tmp_path / "gt_segmentation").mkdir()
    mask = np.zeros((448, 448), dtype=np.uint8)
    mask[10:20, 30:50] = 250  # JPEG-ish: not exactly 255
    Image.fromarray(mask).save(tmp_path / "gt_segmentation" / "a_b_1_a.jpg", quality=95)
    (tmp_path / "IS3_annotation.json").write_text(json.dumps([_entry(n) for n in names]))
    samples = {s.sample_id: s for s in open_source(is3.Config(kind="is3"), tmp_path).samples()}
    assert samples["a_b_1_a"].regions[0].mask == "gt_segmentation/a_b_1_a.jpg"
    assert samples["a_b_1_b"].regions[0].mask is None and samples["a_b_1_b"].regions[0].box == (0, 0, 112, 112)


def test_seg_list_names_the_mask_files(tmp_path):
    _write_media(tmp_path, "a_b_1_a")
    (tmp_path / "gt_masks").mkdir()
    Image.new("L", (448, 448), 255).save(tmp_path / "gt_masks" / "a_b_1_a.jpg")
    entry = {**_entry("a_b_1_a"), "gt_box": "/authors/gt_masks/a_b_1_a.jpg", "offset": 1}
    (tmp_path / "seg.json").write_text(json.dumps([entry, {**entry, "image": "x/a_b_1_b.jpg"}]))
    source = open_source(is3.Config(kind="is3", annotations=Path("seg.json")), tmp_path)
    (sample,) = source.samples()
    assert sample.regions[0].mask == "gt_masks/a_b_1_a.jpg" and sample.regions[0].box is None
    assert sample.image_classes == ("a", "b")
    assert source.report.missing == {"image missing": 1}


def test_media_mode_equals_annotation_only_mode_on_a_complete_copy(tmp_path):
    names = ["a_b_1_a", "a_b_1_b", "c_d_c"]
    for name in names:
        _write_media(tmp_path, name)
    path = tmp_path / "IS3_annotation.json"
    path.write_text(json.dumps([_entry(n, (1, 2, 3, 4)) for n in names]))
    config = is3.Config(kind="is3")
    assert list(open_source(config, tmp_path).samples()) == list(is3.plan_source(config, path).samples())


def test_missing_root_and_annotations_are_named(tmp_path):
    with pytest.raises(InputError, match="needs a root"):
        is3.open_source(is3.Config(kind="is3"), None)
    with pytest.raises(InputError, match="nowhere"):
        open_source(is3.Config(kind="is3"), tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"IS3_annotation\.json"):
        open_source(is3.Config(kind="is3"), tmp_path)
    (tmp_path / "IS3_annotation.json").write_text(json.dumps([{"image": "noseparator.jpg"}]))
    with pytest.raises(InputError, match=r"IS3_annotation.json\[0\]"):
        open_source(is3.Config(kind="is3"), tmp_path)


def test_rendered_mask_of_a_mask_region_follows_the_file(tmp_path, cli, write_recipe):
    names = ["a_b_1_a", "a_b_1_b"]
    for name in names:
        _write_media(tmp_path / "src", name, size=(300, 200))
    masks = tmp_path / "src" / "gt_masks"
    masks.mkdir()
    mask = np.zeros((200, 300), dtype=np.uint8)
    mask[50:100, 60:90] = 255
    Image.fromarray(mask).save(masks / "a_b_1_a.png")
    (tmp_path / "src" / "IS3_annotation.json").write_text(json.dumps([_entry(n) for n in names]))
    recipe = write_recipe(source={"kind": "is3"}, negatives=[{"kind": "silence"}])
    result = cli("build", recipe, "-o", tmp_path / "out", "--source", tmp_path / "src")
    assert result.exit_code == 0, result.output
    by_id = {r["sample_id"]: r for r in _manifest(tmp_path / "out") if r["kind"] == "positive"}
    assert by_id["a_b_1_a"]["mask"]["area"] == 50 * 30
    # the box-only annotation: 112/224 of a 300x200 frame
    assert by_id["a_b_1_b"]["regions"][0]["box"] == [0.0, 0.0, 150.0, 100.0]
    assert read_mask(tmp_path / "out" / by_id["a_b_1_b"]["mask"]["path"]).sum() == 150 * 100
