"""negaudio eval reads each map once (twice only for in-sample universal thresholds), checks its CRC-32 on the first
read, streams maps through reused batch buffers without mixing them up, and scores stored and deflated .npz files
alike."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from negaudio.builder import BuildOptions, build
from negaudio.core.errors import InputError
from negaudio.eval import pipeline
from negaudio.eval.metrics import POSITIVE
from negaudio.eval.predictions import Predictions
from negaudio.eval.samples import index_build
from negaudio.eval.upsample import resize_bilinear
from negaudio.manifest import Build
from negaudio.recipe.io import validate_data
from negaudio.recipe.models import Recipe

RECIPE = {
    "name": "reads-test",
    "version": "1.0.0",
    "seed": 3,
    "source": {"kind": "folder"},
    "audio": {"sample_rate": 16000, "channels": 1, "duration": {"policy": "match"}, "format": "wav_pcm16"},
    "negatives": [{"kind": "silence"}, {"kind": "offscreen", "pool": "same"}],
}


@pytest.fixture(scope="module")
def small_build(demo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("reads") / "build"
    build(validate_data(Recipe, RECIPE), out, source=demo_root, limit=5, options=BuildOptions())
    return out


def write_maps(build_dir, path, compression, frame_sized=False):
    """One random map per item: 12x9, or of its image's size (read straight into the batch buffer)."""
    rng = np.random.default_rng(5)
    records = [json.loads(line) for line in (build_dir / "manifest.jsonl").read_text().splitlines()]
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for r in records:
            shape = (r["image"]["height"], r["image"]["width"]) if frame_sized else (12, 9)
            with zf.open(f"{r['item_id']}.npy", "w") as fh:
                np.lib.format.write_array(fh, rng.random(shape, dtype=np.float32))
    return [r["item_id"] for r in records]


def count_loads(monkeypatch):
    """Reads of each map, and those that checked its CRC-32."""
    counts: dict[str, int] = {}
    verified: dict[str, int] = {}
    original = Predictions._checked  # every read of a map (load, maximum) goes through it

    def checked(self, item_id, out, verify):
        counts[item_id] = counts.get(item_id, 0) + 1
        verified[item_id] = verified.get(item_id, 0) + verify
        return original(self, item_id, out, verify)

    monkeypatch.setattr(Predictions, "_checked", checked)
    return counts, verified


@pytest.mark.parametrize(
    ("thresholds", "reads"), [(("0.5", "median", "adaptive"), 1), (pipeline.DEFAULT_THRESHOLDS, 2)]
)
def test_each_map_is_read_once_unless_calibrated_in_sample(small_build, tmp_path, monkeypatch, thresholds, reads):
    ids = write_maps(small_build, tmp_path / "p.npz", zipfile.ZIP_STORED)
    counts, verified = count_loads(monkeypatch)
    config = pipeline.EvalConfig(thresholds=thresholds, bootstrap=0, gallery=0)
    pipeline.evaluate(small_build, [tmp_path / "p.npz"], tmp_path / "out", config)
    assert counts == dict.fromkeys(ids, reads)
    assert verified == dict.fromkeys(ids, 1)  # the first read checks the CRC-32


def flip_a_byte(path, item_id, back=5):
    """Change one byte ``back`` bytes before the end of a map's data in the file (the array of a stored map, the
    deflate stream of a compressed one), leaving the zip directory (and its CRC-32) as it was."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{item_id}.npy")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size - back] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("thresholds", [("0.5", "median"), pipeline.DEFAULT_THRESHOLDS], ids=["one-pass", "two"])
def test_a_map_damaged_after_it_was_written_is_refused_not_scored(small_build, tmp_path, thresholds, jobs):
    ids = write_maps(small_build, tmp_path / "p.npz", zipfile.ZIP_STORED)
    flip_a_byte(tmp_path / "p.npz", ids[3])
    config = pipeline.EvalConfig(thresholds=thresholds, bootstrap=0, gallery=0, jobs=jobs)
    with pytest.raises(InputError, match=f"item '{ids[3]}': unreadable map .*CRC-32"):
        pipeline.evaluate(small_build, [tmp_path / "p.npz"], tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_a_damaged_deflated_map_is_refused_by_name(tmp_path):
    """Whatever zlib, zipfile or numpy's header parser make of a damaged deflate stream (a bad CRC-32, an invalid
    code, a garbled header), loading names the file and the item (exit 2), never a traceback."""
    m = (np.random.default_rng(6).integers(0, 4, (40, 30)) / 4).astype(np.float32)  # compressible: Huffman-coded
    good = tmp_path / "good.npz"
    with zipfile.ZipFile(good, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("a.npy", "w") as fh:
        np.lib.format.write_array(fh, m)
    info = zipfile.ZipFile(good).getinfo("a.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    reasons = set()
    for at in range(start, start + info.compress_size, 3):
        data = bytearray(good.read_bytes())
        data[at] ^= 0x40
        bad = tmp_path / f"bad{at}.npz"
        bad.write_bytes(bytes(data))
        preds = Predictions([bad])
        try:
            np.testing.assert_array_equal(preds.load("a"), m)  # a flip that changes nothing read may pass
        except InputError as exc:
            assert str(exc).startswith(f"{bad}: item 'a': ")
            reasons.add(str(exc).split("(")[1][:20])
        finally:
            preds.close()
    assert {"damaged compressed d", "Bad CRC-32 for file "} <= reasons, reasons


def test_maps_sha256_is_the_documented_digest_of_the_zip_directory(small_build, tmp_path):
    import hashlib

    def documented(p):  # the recipe of docs/eval.md
        infos = sorted(zipfile.ZipFile(p).infolist(), key=lambda i: i.filename)
        return hashlib.sha256(
            "".join(f"{i.filename}\t{i.file_size}\t{i.CRC:08x}\n" for i in infos).encode()
        ).hexdigest()

    ids = write_maps(small_build, tmp_path / "p.npz", zipfile.ZIP_STORED)
    with np.load(tmp_path / "p.npz") as maps:
        np.savez(tmp_path / "reordered.npz", **{i: maps[i] for i in reversed(ids)})
        np.savez(tmp_path / "other.npz", **{i: maps[i] * (1.5 if i == ids[0] else 1) for i in ids})
    digests = {}
    for name in ("p.npz", "reordered.npz", "other.npz"):
        preds = Predictions([tmp_path / name])
        [entry] = preds.identity()
        preds.close()
        assert entry["maps_sha256"] == documented(tmp_path / name)
        digests[name] = entry["maps_sha256"]
    assert digests["p.npz"] == digests["reordered.npz"] != digests["other.npz"]


@pytest.mark.parametrize("frame_sized", [False, True])
def test_stored_and_deflated_files_score_alike_and_the_gallery_keeps_its_maps(small_build, tmp_path, frame_sized):
    write_maps(small_build, tmp_path / "stored.npz", zipfile.ZIP_STORED, frame_sized)
    write_maps(small_build, tmp_path / "deflated.npz", zipfile.ZIP_DEFLATED, frame_sized)
    b = Build(small_build)
    index = index_build(b)
    config = pipeline.EvalConfig(thresholds=("0.5", "median"), batch=2, gallery=5)
    thresholds = pipeline.make_thresholds(config.thresholds, None)
    results = []
    for name in ("stored.npz", "deflated.npz"):
        preds = Predictions([tmp_path / name])
        first = pipeline.raw_maxima(preds, index.items, None, "maxima")
        for maxima in (None, first):  # one pass (gallery read after scoring), or the maxima pass first
            evaluator, _, gallery = pipeline.score(b, index, preds, maxima, thresholds, config)
            for entry in gallery:  # batches of 2 reuse one buffer: each gallery map is still its own item's
                h, w = entry["sample"].frame
                expected = resize_bilinear(preds.load(entry["sample"].positive.item_id), h, w)
                np.testing.assert_array_equal(entry["maps"][POSITIVE], expected)
            assert len(gallery) == 5
            results.append((evaluator.rows(), [(e["sample"].sample_id, e["rank"]) for e in gallery]))
        preds.close()
    assert all(r == results[0] for r in results)


def test_batches_are_runs_of_one_frame_size_cut_at_the_batch_size():
    frames = [(4, 4)] * 5 + [(2, 3)] + [(4, 4)] * 2
    assert pipeline.batch_sizes(frames, 2) == [2, 2, 1, 1, 2]
    assert pipeline.batch_sizes(frames, 16) == [5, 1, 2]
    assert pipeline.batch_sizes([], 16) == []


def _copy_with_manifest(small_build, dest, text):
    import shutil

    shutil.copytree(small_build, dest)
    (dest / "manifest.jsonl").write_text(text, encoding="utf-8", newline="")
    return dest


def test_a_manifest_with_cr_line_ends_is_scored_as_iteration_reads_it(small_build, tmp_path):
    ids = write_maps(small_build, tmp_path / "p.npz", zipfile.ZIP_STORED)
    text = (small_build / "manifest.jsonl").read_text(encoding="utf-8")
    cr = _copy_with_manifest(small_build, tmp_path / "cr", text.replace("\n", "\r"))
    config = pipeline.EvalConfig(thresholds=("0.5", "median"), bootstrap=0, gallery=0, batch=2)
    plain = pipeline.evaluate(small_build, [tmp_path / "p.npz"], tmp_path / "a", config)
    other = pipeline.evaluate(cr, [tmp_path / "p.npz"], tmp_path / "b", config)
    assert plain["metrics"] == other["metrics"] and len(ids) == other["counts"]["items"]


def test_a_manifest_changed_after_indexing_is_a_clear_error(small_build, tmp_path):
    """Workers parse the lines the index pass counted: a manifest rewritten in between is named, not misread."""
    write_maps(small_build, tmp_path / "p.npz", zipfile.ZIP_STORED)
    lines = (small_build / "manifest.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    copy = _copy_with_manifest(small_build, tmp_path / "copy", "".join(lines))
    b = Build(copy)
    index = index_build(b)
    (copy / "manifest.jsonl").write_text("".join(lines[3:] + lines[:3]), encoding="utf-8")  # first sample last
    preds = Predictions([tmp_path / "p.npz"])
    try:
        config = pipeline.EvalConfig(thresholds=("0.5",), gallery=0)
        with pytest.raises(InputError, match="changed while it was scored"):
            pipeline.score(b, index, preds, None, pipeline.make_thresholds(config.thresholds, None), config)
    finally:
        preds.close()
    with pytest.raises(ValueError, match="filtered view"):
        next(b.filter(kind="silence").lines())
