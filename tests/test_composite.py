"""Composite synthesis: masks recomposed independently from the recorded parameters, determinism, re-rendering a
plan, the embedded bank, and real media from ../shared/data through eval."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image, ImageDraw
from pycocotools import mask as coco_mask

import negaudio
from negaudio.sources.demo import class_sound
from tests.conftest import tree_digest

CLASSES = {"bell": "ellipse", "drum": "rectangle", "bird": "polygon", "engine": "ellipse"}


def make_bank(root: Path, classes: dict[str, str] = CLASSES, sounds: bool = True) -> Path:
    """A small bank in the folder layout: soft-edged RGBA cut-outs, two backgrounds, two clips per class."""
    rng = np.random.default_rng(3)
    for n, (label, shape) in enumerate(classes.items()):
        (root / "objects" / label).mkdir(parents=True)
        for k in range(2):
            w, h = 60 + 10 * k + 5 * n, 50 + 7 * n
            big = Image.new("L", (4 * w, 4 * h), 0)
            d = ImageDraw.Draw(big)
            if shape == "ellipse":
                d.ellipse((4, 4, 4 * w - 4, 4 * h - 4), fill=255)
            elif shape == "rectangle":
                d.rectangle((8, 8, 4 * w - 8, 4 * h - 8), fill=255)
            else:
                d.polygon([(0, 4 * h - 1), (2 * w, 0), (4 * w - 1, 4 * h - 1)], fill=255)
            alpha = big.resize((w, h), Image.Resampling.LANCZOS)
            rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            im = Image.fromarray(rgb, mode="RGB")
            im.putalpha(alpha)
            im.save(root / "objects" / label / f"{label}{k}.png")
        if sounds:
            (root / "audio" / label).mkdir(parents=True)
            for k in range(2):
                sf.write(root / "audio" / label / f"{label}{k}.wav", class_sound(label, rng, 1.5 + k, 16000), 16000)
    (root / "backgrounds").mkdir()
    for k, size in enumerate(((300, 200), (224, 224))):
        arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr, mode="RGB").save(root / "backgrounds" / f"bg{k}.png")
    return root


COMPOSITE = {
    "kind": "composite",
    "images": 8,
    "distractors": {"choice": [0, 1]},
    "rotation": {"uniform": [-30, 30]},
    "max_occluded": 0.6,
    "blend": {"mode": {"choice": ["hard", "feather", "multiband"]}, "sigma": {"uniform": [1, 3]}},
}


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    return make_bank(tmp_path_factory.mktemp("bank") / "bank")


def recipe(write_recipe, name="recipe.yaml", **source):
    return write_recipe(name, source={**COMPOSITE, **source})


def build(cli, recipe_path, out, bank, *extra):
    result = cli("build", recipe_path, "-o", out, "--source", bank, *extra)
    assert result.exit_code == 0, result.output
    return negaudio.open_build(out)


def recompose(bank: Path, spec: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Amodal and visible masks from the recorded parameters, written out independently of the renderer."""
    width, height = spec["canvas"]
    amodal = []
    for obj in spec["objects"]:
        im = Image.open(bank / obj["cutout"]).convert("RGBA").crop(tuple(obj["crop"]))
        if obj["flip"]:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im = im.resize(tuple(obj["size"]), Image.Resampling.BILINEAR)
        if obj["rotation"]:
            im = im.rotate(obj["rotation"], resample=Image.Resampling.BILINEAR, expand=True)
        alpha = np.asarray(im)[..., 3] >= 128
        canvas = np.zeros((height, width), bool)
        x, y = obj["position"]
        h, w = alpha.shape
        canvas[max(y, 0) : y + h, max(x, 0) : x + w] = alpha[max(0, -y) : height - y, max(0, -x) : width - x]
        amodal.append(canvas)
    visible = []
    for i, mask in enumerate(amodal):
        above = [amodal[j] for j, o in enumerate(spec["objects"]) if o["z"] > spec["objects"][i]["z"]]
        visible.append(mask & ~np.any(above, axis=0) if above else mask.copy())
    return amodal, visible


def decode(rle) -> np.ndarray:
    return coco_mask.decode({"size": rle.size, "counts": rle.counts.encode("ascii")}).astype(bool)


def test_masks_match_an_independent_recomposition(cli, write_recipe, bank, tmp_path):
    b = build(cli, recipe(write_recipe), tmp_path / "b", bank)
    plan = {}
    with (tmp_path / "b" / "plan.jsonl").open() as fh:
        next(fh)
        for line in fh:
            row = json.loads(line)
            plan[row["sample_id"]] = row["composite"]
    positives = [r for r in b if r.kind == "positive"]
    assert len(positives) == 16
    seen_blends, seen_distractors = set(), 0
    for record in positives:
        spec = plan[record.sample_id]
        amodal, visible = recompose(bank, spec)
        comp = record.composite
        assert comp is not None and comp.targets == spec["targets"]
        for obj, a, v in zip(comp.objects, amodal, visible, strict=True):
            assert np.array_equal(decode(obj.amodal), a)
            assert np.array_equal(decode(obj.visible), v)
            assert obj.visible_area == int(v.sum()) and obj.amodal_area == int(a.sum())
            assert obj.occluded_fraction == pytest.approx(1 - v.sum() / a.sum(), abs=1e-12)
            assert obj.occluded_fraction <= 0.6 and obj.visible_area >= 64
            seen_blends.add(obj.blend["mode"])
            seen_distractors += obj.role == "distractor"
        union = np.zeros_like(visible[0], dtype=int)
        for v in visible:
            union += v
        assert union.max() <= 1  # visible masks of one image are disjoint
        gt = b.load_mask(record)
        (target,) = comp.targets
        assert np.array_equal(gt > 0.5, visible[target])
        ys, xs = np.nonzero(visible[target])
        assert record.regions[0].box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert record.label == comp.objects[target].label and record.source.audio == comp.objects[target].audio
        assert set(record.image_classes) == {o.label for o in comp.objects}
    assert seen_blends == {"hard", "feather", "multiband"} and seen_distractors > 0
    for record in b:
        if record.kind == "offscreen":
            assert record.heard_label not in record.image_classes  # distractors excluded too
    assert b.info["source"]["kind"] == "composite" and b.info["source"]["bank"]["embedded"] is False


def test_same_recipe_and_seed_give_identical_composites_for_one_and_two_jobs(cli, write_recipe, bank, tmp_path):
    r = recipe(write_recipe)
    build(cli, r, tmp_path / "one", bank, "--jobs", "1")
    build(cli, r, tmp_path / "two", bank, "--jobs", "2")
    digest = tree_digest(tmp_path / "one")
    assert digest == tree_digest(tmp_path / "two")
    assert any(p.startswith("images/") and p.endswith(".png") for p in digest)


def test_dask_local_cluster_gives_the_same_composites(cli, write_recipe, bank, tmp_path):
    pytest.importorskip("dask.distributed")
    r = recipe(write_recipe)
    build(cli, r, tmp_path / "local", bank)
    build(cli, r, tmp_path / "dask", bank, "--executor", "dask", "--jobs", "2")
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "dask")


def test_a_plan_re_renders_identically_and_an_edited_value_changes_only_its_image(cli, write_recipe, bank, tmp_path):
    build(cli, recipe(write_recipe, images=3), tmp_path / "a", bank)
    again = cli("build", "--plan", tmp_path / "a" / "plan.jsonl", "--source", bank, "-o", tmp_path / "again")
    assert again.exit_code == 0, again.output
    a = {r.item_id: r for r in negaudio.open_build(tmp_path / "a")}
    assert {k: r.item_sha256 for k, r in a.items()} == {
        r.item_id: r.item_sha256 for r in negaudio.open_build(tmp_path / "again")
    }
    lines = (tmp_path / "a" / "plan.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    edited_group = rows[0]["group"]
    for row in rows:
        if row["group"] == edited_group:
            row["composite"]["objects"][0]["flip"] = not row["composite"]["objects"][0]["flip"]
    plan = tmp_path / "edited.jsonl"
    plan.write_text("\n".join([lines[0], *(json.dumps(r) for r in rows)]) + "\n")
    result = cli("build", "--plan", plan, "--source", bank, "-o", tmp_path / "edited")
    assert result.exit_code == 0, result.output
    for record in negaudio.open_build(tmp_path / "edited"):
        same = a[record.item_id].image.sha256 == record.image.sha256
        assert same == (record.group != edited_group)
        assert record.composite.objects[0].flip == (a[record.item_id].composite.objects[0].flip ^ (not same))


def test_embedded_bank_builds_composites_without_a_source(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    result = cli("build", "is3plus", "-o", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    b = negaudio.open_build(tmp_path / "demo")
    assert b.info["source"]["kind"] == "composite" and b.info["source"]["bank"]["embedded"] is True
    positives = [r for r in b if r.kind == "positive"]
    assert positives and all(r.composite is not None and r.mask is not None for r in positives)
    names = {r.sample_id for r in positives}
    for r in positives:  # <objA>_<objB>_<id>_<target>, one positive per sounding object
        a, bb, ident, target = r.sample_id.split("_")
        assert target in (a, bb) and ident.isdigit() and f"{a}_{bb}_{ident}_{bb if target == a else a}" in names
    assert cli("verify", tmp_path / "demo").exit_code == 0
    result = cli("inspect", tmp_path / "demo", "--gallery", tmp_path / "sheet.png")
    assert result.exit_code == 0 and "contact sheet of 12 image(s)" in result.output
    result = cli("inspect", tmp_path / "demo", "--gallery", tmp_path / "new" / "sheet.png", "--count", "5")
    assert result.exit_code == 0 and "contact sheet of the first 5 of 12 images" in result.output


def test_real_media_from_vggss_frames_through_eval(cli, write_recipe, shared_data, tmp_path):
    """Objects cut from VGG-SS frames by their boxes, other frames as backgrounds, the real clips as sounds."""
    entries = {e["file"]: e for e in json.loads((shared_data / "annotations" / "vggss.json").read_text())}
    frames = sorted((shared_data / "samples" / "vggss" / "frames").glob("*.jpg"))
    bank = tmp_path / "bank"
    (bank / "backgrounds").mkdir(parents=True)
    used = 0
    for frame in frames:
        entry = entries.get(frame.stem)
        box = entry and entry["bbox"][0]
        im = Image.open(frame).convert("RGB")
        if box is None or not all(0 <= v <= 1 for v in box):
            im.save(bank / "backgrounds" / f"{frame.stem}.png")
            continue
        label = entry["class"].replace(" ", "-").replace(",", "")
        w, h = im.size
        x1, y1, x2, y2 = round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)
        cut = im.crop((x1, y1, x2, y2)).resize((96, max(8, round(96 * (y2 - y1) / max(1, x2 - x1)))))
        alpha = Image.new("L", cut.size, 0)
        ImageDraw.Draw(alpha).ellipse((0, 0, cut.width - 1, cut.height - 1), fill=255)  # an elliptic matte
        cut.putalpha(alpha)
        (bank / "objects" / label).mkdir(parents=True, exist_ok=True)
        cut.save(bank / "objects" / label / f"{frame.stem}.png")
        (bank / "audio" / label).mkdir(parents=True, exist_ok=True)
        wav = shared_data / "samples" / "vggss" / "audio" / f"{frame.stem}.wav"
        (bank / "audio" / label / wav.name).write_bytes(wav.read_bytes())
        im.save(bank / "backgrounds" / f"{frame.stem}.png")
        used += 1
    assert used >= 4
    r = recipe(write_recipe, images=6, scale={"uniform": [0.3, 0.45]})
    out = tmp_path / "real"
    b = build(cli, r, out, bank)
    assert b.info["counts"]["positive"] == 12
    result = cli("eval", out, "--model", "energy-gated", "-o", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["metrics"]
    shown = cli("inspect", out, "--gallery", tmp_path / "sheet.png")
    assert shown.exit_code == 0, shown.output
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.size[0] > 256


def test_bundled_is3plus_synth_recipe_on_a_bank_folder(cli, bank, tmp_path):
    result = cli("build", "is3plus-synth", "--source", bank, "-o", tmp_path / "synth", "--limit", "6")
    assert result.exit_code == 0, result.output
    b = negaudio.open_build(tmp_path / "synth")
    assert b.info["counts"] == {"noise": 12, "offscreen": 6, "positive": 6, "silence": 6}
    for record in b:
        assert record.image.path.endswith(".jpg") and record.image.width == record.image.height == 224
        for obj in record.composite.objects:
            side = (obj.size[0] * obj.size[1]) ** 0.5 / 224
            assert 0.24 <= side <= 0.51 and obj.role == "sounding" and obj.occluded_fraction <= 0.3


def test_verify_checks_each_mask_against_its_targets_recorded_visible_mask(cli, write_recipe, bank, tmp_path):
    build(cli, recipe(write_recipe, images=4, distractors=0), tmp_path / "b", bank)
    manifest = tmp_path / "b" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    positive = next(r for r in records if r["kind"] == "positive")
    (target,) = positive["composite"]["targets"]
    objects = positive["composite"]["objects"]
    other = next(k for k in range(len(objects)) if k != target)
    objects[target]["visible"], objects[other]["visible"] = objects[other]["visible"], objects[target]["visible"]
    manifest.write_text("".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records))
    result = cli("verify", tmp_path / "b", "--json")
    assert result.exit_code == 1
    details = [p["detail"] for p in json.loads(result.output)["problems"]]
    assert any("is not its target's visible mask" in d for d in details)
    assert any("masks do not match its areas" in d for d in details)


def test_multi_source_positive_mixes_the_sounding_clips_and_its_mask_is_the_union(cli, write_recipe, bank, tmp_path):
    out = tmp_path / "b"
    b = build(cli, recipe(write_recipe, images=5, multi_source={"levels_db": [0, -6]}), out, bank)
    records = list(b)
    mixes = [r for r in records if r.composite is not None and r.composite.mix is not None]
    assert len(mixes) == 5 and b.info["counts"]["positive"] == 15
    by_sample = {}
    for r in records:
        by_sample.setdefault(r.sample_id, []).append(r)

    def samples(record) -> np.ndarray:
        data, rate = sf.read(out / record.audio.path, dtype="float64", always_2d=True)
        assert rate == 16000
        return data.T

    for mix in mixes:
        assert by_sample[mix.sample_id] == [mix] and mix.kind == "positive"  # the positive only, no negatives
        comp = mix.composite
        sounding = [k for k, o in enumerate(comp.objects) if o.role == "sounding"]
        labels = [comp.objects[k].label for k in sounding]
        assert comp.targets == sounding and comp.mix.levels_db == [0.0, -6.0]
        assert mix.heard_label == mix.label == "+".join(labels)
        assert mix.sample_id == f"{mix.group}_{'+'.join(labels)}"
        singles = {}
        for r in records:
            if r.group == mix.group and r.kind == "positive" and r is not mix:
                (t,) = r.composite.targets
                singles[t] = r
        assert sorted(singles) == sounding
        # the mix is the sum of the individually rendered clips at the recorded gains, within quantization
        parts = [samples(singles[t]) for t in sounding]
        n = max(p.shape[1] for p in parts)
        expected = np.zeros((1, n))
        for p, gain in zip(parts, comp.mix.gains, strict=True):
            expected[:, : p.shape[1]] += gain * p
        got = samples(mix)
        assert got.shape == expected.shape and np.abs(expected).max() < 1
        assert np.abs(got - expected).max() <= (sum(comp.mix.gains) + 1) * 0.5 / 32767 + 1e-9
        # stated relative levels: the second clip sits 6 dB under the first
        rms = [float(np.sqrt(np.mean((g * p) ** 2))) for p, g in zip(parts, comp.mix.gains, strict=True)]
        assert 20 * np.log10(rms[1] / rms[0]) == pytest.approx(-6.0, abs=0.01)
        # its ground truth: the union of the sounding objects' visible masks, pixel for pixel
        union = np.zeros_like(decode(comp.objects[0].visible))
        for t in sounding:
            union |= decode(comp.objects[t].visible)
            assert np.array_equal(decode(comp.objects[t].visible), b.load_mask(singles[t]) > 0.5)
        assert np.array_equal(b.load_mask(mix) > 0.5, union)
        assert sorted(tuple(r.box) for r in mix.regions) == sorted(tuple(singles[t].regions[0].box) for t in sounding)
        assert mix.image.sha256 == singles[sounding[0]].image.sha256
    assert all("+" not in (r.heard_label or "") for r in records if r.kind == "offscreen")
    assert cli("verify", out).exit_code == 0
    again = cli("build", "--plan", out / "plan.jsonl", "--source", bank, "-o", tmp_path / "again")
    assert again.exit_code == 0, again.output
    assert tree_digest(out) == tree_digest(tmp_path / "again")
    result = cli("eval", out, "--model", "energy-gated", "-o", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    with (tmp_path / "eval" / "items.csv").open() as fh:
        rows = {row["item_id"]: row for row in csv.DictReader(fh)}
    for mix in mixes:  # scored as a positive: against its union mask
        assert rows[mix.item_id]["kind"] == "positive" and rows[mix.item_id]["iou@fixed=0.5"] != ""
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["counts"]["positive"] == 15 and report["counts"]["silence"] == 10


def test_without_multi_source_no_mix_is_planned(cli, write_recipe, bank, tmp_path):
    b = build(cli, recipe(write_recipe, images=3), tmp_path / "b", bank)
    assert all(r.composite.mix is None and "+" not in r.sample_id for r in b)
    assert '"mix"' not in (tmp_path / "b" / "manifest.jsonl").read_text()


def test_composite_build_killed_after_its_first_shard_resumes_identically(write_recipe, bank, tmp_path):
    """kill -9 a two-worker composite build once its first shard is recorded, resume it: the same files as an
    uninterrupted build (100 images, 200 samples + 100 mixes = 5 shards of 64)."""
    r = recipe(write_recipe, images=100, distractors=0, multi_source={"levels_db": [0, {"uniform": [-9, -3]}]})
    out, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [sys.executable, "-m", "negaudio", "build", str(r), "--source", str(bank), "-j", "2", "-o"]
    proc = subprocess.Popen([*cmd, str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / ".negaudio" / "shards" / "00000.jsonl"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists() and not (out / "manifest.jsonl").exists()
    assert len(list(first.parent.glob("*.jsonl"))) < 5  # shards were left to do
    stamp = first.stat().st_mtime_ns
    subprocess.run([*cmd, str(out), "--resume"], check=True, capture_output=True)
    assert first.stat().st_mtime_ns == stamp  # the finished shard was not redone
    subprocess.run([*cmd, str(clean)], check=True, capture_output=True)
    digest = tree_digest(out)
    assert digest == tree_digest(clean)
    assert sum(p.startswith("images/") for p in digest) == 300 and not list(out.rglob("*.tmp"))
    assert len(list((out / ".negaudio" / "shards").glob("*.jsonl"))) == 5


def test_background_size_and_procedural_backgrounds(cli, write_recipe, bank, tmp_path):
    """``size: background`` takes each background's own size; a procedural kind needs no background files."""
    out = tmp_path / "bg-size"
    built = build(cli, recipe(write_recipe, "bg.yaml", size="background", images=4), out, bank)
    sizes = {(r.image.width, r.image.height) for r in built}
    assert sizes <= {(300, 200), (224, 224)} and len(sizes) >= 1
    for record in built:
        with Image.open(out / record.image.path) as im:
            assert im.size == (record.image.width, record.image.height)
    no_backgrounds = tmp_path / "bank-nobg"
    shutil.copytree(bank, no_backgrounds)
    shutil.rmtree(no_backgrounds / "backgrounds")
    for kind in ("gradient", "clouds"):
        r = recipe(write_recipe, f"{kind}.yaml", images=3, backgrounds={"procedural": kind})
        first = build(cli, r, tmp_path / f"{kind}-a", no_backgrounds)
        again = build(cli, r, tmp_path / f"{kind}-b", no_backgrounds)
        assert first.info["content_sha256"] == again.info["content_sha256"]
        assert {(rec.image.width, rec.image.height) for rec in first} == {(224, 224)}
        with Image.open(tmp_path / f"{kind}-a" / next(iter(first)).image.path) as im:
            assert np.asarray(im.convert("L")).std() > 1  # a real texture, not a flat canvas
