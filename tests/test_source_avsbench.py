"""The AVSBench adapters: S4 (real stereo audio), MS3 and AVSS (colour masks) on look-alike layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from negaudio.core.cache import resolve_media
from negaudio.core.errors import InputError
from negaudio.media.masks import read_mask
from negaudio.sources import avsbench, avss, ms3, open_source, s4


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _frame() -> np.ndarray:
    return np.full((224, 224, 3), 100, dtype=np.uint8)


def _mask(k: int) -> np.ndarray:
    mask = np.zeros((224, 224), dtype=np.uint8)
    mask[10 * k : 10 * k + 40, 20:60] = 255
    return mask


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEGAUDIO_CACHE", str(cache))
    return cache


# --- S4 ---------------------------------------------------------------------------------------------------


def _s4_root(shared_data: Path, tmp_path: Path) -> Path:
    """Single-source/ with the real stereo sample clips (categories from s4_box.json) and drawn frames."""
    boxes = json.loads((shared_data / "annotations" / "s4_box.json").read_text())
    category = {Path(e["audio"]).stem: Path(e["audio"]).parent.name for e in boxes}
    root = tmp_path / "Single-source"
    data = root / "s4_data"
    rows = ["name,onset,category,split"]
    for wav in sorted((shared_data / "samples" / "s4" / "audio_wav").glob("*.wav")):
        name, cat = wav.stem, category[wav.stem]
        rows.append(f"{name},0,{cat},test")
        (data / "audio_wav" / "test" / cat).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, data / "audio_wav" / "test" / cat / wav.name)
        for k in range(1, 6):
            _png(data / "visual_frames" / "test" / cat / name / f"{name}_{k}.png", _frame())
            mask = np.zeros((224, 224), np.uint8) if cat == "cat_meowing" and k == 5 else _mask(k)
            _png(data / "gt_masks" / "test" / cat / name / f"{name}_{k}.png", mask)
    rows.append("trainclip00,3,helicopter,train")
    (root / "s4_meta_data.csv").write_text("\n".join(rows) + "\n")
    return root


def test_s4_real_stereo_clips_build_to_mono_with_mask_ground_truth(shared_data, cli, tmp_path):
    root = _s4_root(shared_data, tmp_path)
    out = tmp_path / "out"
    result = cli("build", "s4-neg", "-o", out, "--source", root, "--no-canonical")
    assert result.exit_code == 0, result.output
    records = _manifest(out)
    positives = [r for r in records if r["kind"] == "positive"]
    assert len(positives) == 4 * 5
    for r in positives:
        assert r["audio"]["channels"] == 1 and r["audio"]["sample_rate"] == 16000
        assert r["audio"]["duration_s"] == pytest.approx(5.02)
        assert r["image_classes"] == [r["label"]]
        k = int(r["sample_id"].rsplit("_", 1)[1])
        empty = r["label"] == "cat_meowing" and k == 5
        assert r["mask"]["area"] == (0 if empty else 40 * 40)
    first = next(r for r in positives if r["label"] == "cat_meowing")
    stereo, _ = sf.read(root / first["source"]["audio"], dtype="float32")
    mono, _ = sf.read(out / first["audio"]["path"], dtype="float32")
    assert np.allclose(mono, stereo.mean(axis=1), atol=1 / 16000)
    for r in (r for r in records if r["kind"] == "offscreen"):
        assert r["heard_label"] not in r["image_classes"]


def test_s4_splits_follow_the_release_mask_rule_and_report_missing_media(tmp_path):
    data = tmp_path / "s4_data"  # root = s4_data itself, metadata beside it
    (tmp_path / "s4_meta_data.csv").write_text(
        "name,x,category,split\nclipA,0,dog_barking,train\nclipB,0,dog_barking,test\n"
    )
    _png(data / "visual_frames" / "train" / "dog_barking" / "clipA" / "clipA_1.png", _frame())
    _png(data / "gt_masks" / "train" / "dog_barking" / "clipA" / "clipA_1.png", _mask(1))
    (data / "audio_wav" / "train" / "dog_barking").mkdir(parents=True)
    sf.write(data / "audio_wav" / "train" / "dog_barking" / "clipA.wav", np.zeros((800, 2)), 16000)
    train = open_source(s4.Config(kind="s4", split="train"), data)
    (sample,) = train.samples()
    assert sample.sample_id == "clipA_1" and sample.image == "visual_frames/train/dog_barking/clipA/clipA_1.png"
    assert sample.regions[0].mask_threshold == 0
    test = open_source(s4.Config(kind="s4"), data)
    assert list(test.samples()) == [] and test.report.missing == {"frame missing": 5}


def test_s4_and_ms3_annotation_only_modes_read_the_box_lists(shared_data):
    annotations = shared_data / "annotations"
    samples = list(s4.plan_source(s4.Config(kind="s4"), annotations / "s4_box.json").samples())
    assert len(samples) == 3700 and len({s.label for s in samples}) == 23
    assert sum(1 for s in samples if s.regions[0].box == (0, 0, 0, 0)) == 6
    first = samples[0]
    assert first.regions[0].mask == first.image.replace("visual_frames", "gt_masks")
    assert first.regions[0].box_space == (224.0, 224.0) and first.image.startswith("s4_data/visual_frames/test/")
    samples = list(ms3.plan_source(ms3.Config(kind="ms3"), annotations / "ms3_box.json").samples())
    assert len(samples) == 320 and len({s.label for s in samples}) == 64
    assert sum(1 for s in samples if s.regions[0].box == (0, 0, 0, 0)) == 29
    vid = samples[0].sample_id.rsplit("_", 1)[0]
    assert samples[0].image == f"ms3_data/visual_frames/{vid}/{vid}.mp4_1.png"
    assert samples[0].regions[0].mask == f"ms3_data/gt_masks/test/{vid}/{vid}_1.png"


# --- MS3 --------------------------------------------------------------------------------------------------


def _ms3_root(tmp_path: Path) -> Path:
    root = tmp_path / "Multi-sources"
    data = root / "ms3_data"
    vids = {"aaaaaaaaaaa_1": "test", "bbbbbbbbbbb_2": "test", "ccccccccccc_3": "train"}
    root.mkdir()
    (root / "ms3_meta_data.csv").write_text("".join(f"{v},{s}\n" for v, s in vids.items()))  # no header
    for vid, split in vids.items():
        (data / "audio_wav" / split).mkdir(parents=True, exist_ok=True)
        sf.write(data / "audio_wav" / split / f"{vid}.wav", np.full(16000, 0.1 if "a" in vid else 0.2), 16000)
        for k in range(1, 6):
            _png(data / "visual_frames" / vid / f"{vid}.mp4_{k}.png", _frame())
            _png(data / "gt_masks" / split / vid / f"{vid}_{k}.png", _mask(k))
    return root


def test_ms3_clips_are_their_own_class_so_offscreen_draws_another_clip(cli, tmp_path):
    root = _ms3_root(tmp_path)
    samples = list(open_source(ms3.Config(kind="ms3"), root).samples())
    assert [s.sample_id for s in samples] == [
        f"{v}_{k}" for v in ("aaaaaaaaaaa_1", "bbbbbbbbbbb_2") for k in range(1, 6)
    ]
    assert samples[0].label == "ms3:aaaaaaaaaaa_1" and samples[0].image_classes == ("ms3:aaaaaaaaaaa_1",)
    out = tmp_path / "out"
    result = cli("build", "ms3-neg", "-o", out, "--source", root, "--no-canonical")
    assert result.exit_code == 0, result.output
    for r in (r for r in _manifest(out) if r["kind"] == "offscreen"):
        assert r["heard_label"] != r["label"] and r["heard_label"].startswith("ms3:")


# --- AVSS -------------------------------------------------------------------------------------------------

CLASSES = ["guitar", "man", "piano"]


def _avss_root(tmp_path: Path, offset: int = 0) -> tuple[Path, dict]:
    """metadata.csv, label2idx.json (background = offset, classes after it) and three clips."""
    root = tmp_path / f"avss{offset}"
    table = {"background": offset, **{c: offset + 1 + i for i, c in enumerate(CLASSES)}}
    root.mkdir()
    (root / "label2idx.json").write_text(json.dumps(table))
    rows = [
        "vid,uid,s_min,s_sec,a_obj,split,label",
        "vidA,vidA_0,0,0,guitar,test,v1s",
        "vidB,vidB_1,0,5,man_guitar,test,v1m",
        "vidC,vidC_2,1,0,piano,test,v2",
        "vidD,vidD_0,0,0,man,train,v1s",
    ]
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    painted = {}
    for uid, subset, objects in (
        ("vidA_0", "v1s", ["guitar"]),
        ("vidB_1", "v1m", ["man", "guitar"]),
        ("vidC_2", "v2", ["piano"]),
        ("vidD_0", "v1s", ["man"]),
    ):
        clip = root / subset / uid
        clip.mkdir(parents=True)
        sf.write(clip / "audio.wav", np.full(8000, 0.1), 16000)
        (clip / "frames").mkdir()
        for i in range(2 if subset == "v2" else 5):
            Image.new("RGB", (320, 240), (9, 9, 9)).save(clip / "frames" / f"{i}.jpg")
            rgb = np.zeros((240, 320, 3), dtype=np.uint8)
            rgb[:] = avss.palette_colour(table["background"])
            masks = {}
            if i != 1:  # frame 1 has no sounding pixel
                for j, name in enumerate(objects):
                    area = np.zeros((240, 320), dtype=bool)
                    area[20 + 30 * j : 60 + 30 * j, 10 + 100 * j : 90 + 100 * j] = True
                    rgb[area] = avss.palette_colour(table[name])
                    masks[name] = area
            if i == 2:
                rgb[0, 0] = (1, 2, 3)  # a colour outside the palette
            _png(clip / "labels_rgb" / f"{i}.png", rgb)
            painted[f"{uid}_{i}"] = masks
    return root, painted


def test_palette_is_the_pascal_voc_bit_palette():
    assert [avss.palette_colour(i) for i in range(5)] == [
        (0, 0, 0),
        (128, 0, 0),
        (0, 128, 0),
        (128, 128, 0),
        (0, 0, 128),
    ]
    assert avss.palette_colour(15) == (192, 128, 128)  # VOC "person"
    assert avss.palette_colour(70) == (32, 128, 128)


@pytest.mark.parametrize("offset", [0, 1])
def test_avss_colour_masks_decode_to_exact_per_class_masks_in_the_cache(tmp_path, isolated_cache, offset):
    root, painted = _avss_root(tmp_path, offset)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    source = open_source(avss.Config(kind="avss"), root)
    samples = {s.sample_id: s for s in source.samples()}
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written into the source
    assert len(samples) == 5 + 5 + 2
    assert source.report.missing == {"frame missing": 8}  # v2 clip: 10 frames expected, 2 present
    assert source.report.notes == ["frames with colours outside the palette (read as background): 2"]
    both = samples["vidB_1_0"]
    assert (both.label, both.image_classes) == ("guitar_man", ("guitar", "guitar_man", "man"))
    assert both.image == "v1m/vidB_1/frames/0.jpg" and both.audio == "v1m/vidB_1/audio.wav"
    for sample_id, sample in samples.items():
        for region in sample.regions:
            assert region.mask.startswith("cache:")  # portable: no absolute paths
            path = resolve_media(root, region.mask)
            assert path.is_relative_to(isolated_cache)
            decoded = read_mask(path) > 0.5
            expected = painted[sample_id].get(region.label, np.zeros((240, 320), bool))
            assert np.array_equal(decoded, expected), (sample_id, region.label)
    empty = samples["vidA_0_1"]
    assert [r.label for r in empty.regions] == ["guitar"]
    assert not (read_mask(resolve_media(root, empty.regions[0].mask)) > 0).any()


def test_avss_build_and_label_table_errors(tmp_path, isolated_cache, cli):
    root, _ = _avss_root(tmp_path)
    out = tmp_path / "out"
    result = cli("build", "un-avss@1.0.0", "-o", out, "--source", root)  # 1.1.0 groups leave this toy set no class
    assert result.exit_code == 0, result.output
    records = _manifest(out)
    assert {r["kind"] for r in records} == {"positive", "mismatched"}
    for r in (r for r in records if r["kind"] == "mismatched"):
        assert r["heard_label"] not in r["image_classes"]
    (root / "label2idx.json").write_text(json.dumps({"guitar": 1}))
    with pytest.raises(InputError, match="background"):
        open_source(avss.Config(kind="avss"), root)


def test_metadata_columns_are_found_by_header_name_else_by_position(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text("split,category,name,when\ntest,dog_barking,clipA,3\n")
    assert avsbench.read_meta(named, s4.COLUMNS) == [{"name": "clipA", "category": "dog_barking", "split": "test"}]
    bare = tmp_path / "bare.csv"
    bare.write_text("clipB,0,helicopter,val\n")
    assert avsbench.read_meta(bare, s4.COLUMNS) == [{"name": "clipB", "category": "helicopter", "split": "val"}]
    bare.write_text("name,x,category,split\nclipB,0\n")
    with pytest.raises(InputError, match=r"bare\.csv:2"):
        avsbench.read_meta(bare, s4.COLUMNS)
