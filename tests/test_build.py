"""The builder end to end: determinism, resume, refusals, bad input, verification and the reader."""

from __future__ import annotations

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

import negaudio
from negaudio.manifest import ManifestRecord
from negaudio.sources.demo import ensure_demo
from tests.conftest import tree_digest


def build(cli, recipe: Path, out: Path, source: Path, *extra: str):
    return cli("build", recipe, "-o", out, "--source", source, *extra)


def test_same_recipe_and_seed_give_identical_builds_for_one_and_two_jobs(cli, write_recipe, demo_root, tmp_path):
    recipe = write_recipe()
    one, two, again = tmp_path / "one", tmp_path / "two", tmp_path / "again"
    assert build(cli, recipe, one, demo_root, "--jobs", "1").exit_code == 0
    assert build(cli, recipe, two, demo_root, "--jobs", "2").exit_code == 0
    assert build(cli, recipe, again, demo_root).exit_code == 0
    digest = tree_digest(one)
    assert digest == tree_digest(two) == tree_digest(again)
    assert any(p.startswith("audio/") for p in digest) and any(p.startswith("masks/") for p in digest)


def test_dask_local_cluster_gives_the_same_build(cli, write_recipe, demo_root, tmp_path):
    pytest.importorskip("dask.distributed")
    recipe = write_recipe()
    assert build(cli, recipe, tmp_path / "local", demo_root).exit_code == 0
    result = build(cli, recipe, tmp_path / "dask", demo_root, "--executor", "dask", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "dask")


def test_a_different_seed_changes_every_negative_but_no_positive(cli, write_recipe, demo_root, tmp_path):
    assert build(cli, write_recipe(), tmp_path / "a", demo_root).exit_code == 0
    assert build(cli, write_recipe(), tmp_path / "b", demo_root, "--seed", "8").exit_code == 0
    a, b = (
        {r.item_id: r.audio.pcm_sha256 for r in negaudio.open_build(tmp_path / x) if r.kind != "silence"} for x in "ab"
    )
    assert a.keys() == b.keys()
    same = {item_id for item_id in a if a[item_id] == b[item_id]}
    assert {i for i in a if i.endswith("__positive")} <= same
    assert not {i for i in same if "__noise" in i}
    assert {i for i in a if i.endswith("__offscreen")} - same  # a small pool may repeat a draw, not all of them


def test_adding_a_negative_leaves_the_other_items_unchanged(cli, write_recipe, demo_root, tmp_path):
    from tests.conftest import BASE_RECIPE

    more = [*BASE_RECIPE["negatives"], {"kind": "noise", "color": "brown", "level": {"snr_db": 10}}]
    assert build(cli, write_recipe("a.yaml"), tmp_path / "a", demo_root).exit_code == 0
    assert build(cli, write_recipe("b.yaml", negatives=more), tmp_path / "b", demo_root).exit_code == 0
    a = {r.item_id: r.audio.pcm_sha256 for r in negaudio.open_build(tmp_path / "a")}
    b = {r.item_id: r.audio.pcm_sha256 for r in negaudio.open_build(tmp_path / "b")}
    assert len(b) == len(a) + 12
    assert all(b[k] == v for k, v in a.items())


def test_items_follow_the_recipe(cli, write_recipe, demo_root, tmp_path):
    recipe = write_recipe(positive_noise={"color": "white", "snr_db": [20, 5]})
    assert build(cli, recipe, tmp_path / "b", demo_root).exit_code == 0
    b = negaudio.open_build(tmp_path / "b")
    records = list(b)
    assert len(records) == len(b) == 12 * 7
    assert b.info["counts"] == {"noise": 24, "noisy_positive": 24, "offscreen": 12, "positive": 12, "silence": 12}
    by_sample: dict[str, list[ManifestRecord]] = {}
    for r in records:
        by_sample.setdefault(r.sample_id, []).append(r)
    for items in by_sample.values():
        positive = next(r for r in items if r.kind == "positive")
        clean = b.load_audio(positive)
        for r in items:
            assert r.audio.num_samples == positive.audio.num_samples  # the "match" duration policy
            assert r.mask == positive.mask and r.image == positive.image
            assert r.audio.sample_rate == 16000 and r.audio.channels == 1
            if r.kind == "silence":
                assert r.audio.rms_dbfs is None and not b.load_audio(r).any()
            elif r.name == "noise-pink-rms-30":
                assert r.audio.rms_dbfs == pytest.approx(-30, abs=0.05)
            elif r.name == "noise-white-sigma1":
                assert r.audio.peak_dbfs <= 0.0 and -4 < r.audio.rms_dbfs < -2  # N(0,1) clipped to [-1, 1]
            elif r.kind == "offscreen":
                assert r.heard_label not in r.image_classes
            elif r.kind == "noisy_positive":
                noise = b.load_audio(r) - clean
                snr = 20 * np.log10(np.sqrt(np.mean(clean**2)) / np.sqrt(np.mean(noise**2)))
                assert snr == pytest.approx(r.params["snr_db"], abs=0.1)


def test_loudness_is_measured_on_request(cli, write_recipe, demo_root, tmp_path):
    audio = {"sample_rate": 16000, "channels": 1, "duration": {"policy": "match"}, "measure_lufs": True}
    assert build(cli, write_recipe(audio=audio), tmp_path / "b", demo_root).exit_code == 0
    loudness = {r.kind: r.audio.lufs for r in negaudio.open_build(tmp_path / "b") if r.name != "noise-pink-rms-30"}
    assert loudness["silence"] == -70.0  # the floor for digital silence
    assert -40 < loudness["positive"] < 0 and loudness["noise"] > loudness["positive"]


def test_fixed_duration_and_float_format(cli, write_recipe, demo_root, tmp_path):
    audio = {
        "sample_rate": 22050,
        "channels": 2,
        "duration": {"policy": "fixed", "seconds": 1.5},
        "format": "wav_float32",
    }
    assert build(cli, write_recipe(audio=audio), tmp_path / "b", demo_root).exit_code == 0
    for r in negaudio.open_build(tmp_path / "b"):
        data, rate = sf.read(tmp_path / "b" / r.audio.path, always_2d=True)
        assert data.shape == (33075, 2) and rate == 22050 and r.audio.format == "wav_float32"


def test_regions_and_masks_are_in_stored_frame_pixels(cli, write_recipe, demo_root, tmp_path):
    assert build(cli, write_recipe(), tmp_path / "b", demo_root).exit_code == 0
    b = negaudio.open_build(tmp_path / "b")
    for r in b:
        if r.kind != "positive":
            continue
        mask = b.load_mask(r)
        assert mask.shape == (r.image.height, r.image.width) == (240, 320)
        ys, xs = np.nonzero(mask)
        x1, y1, x2, y2 = r.regions[0].box
        assert x1 <= xs.min() and xs.max() <= x2 and y1 <= ys.min() and ys.max() <= y2
        assert r.mask.area == len(xs) > 0
        from pycocotools import mask as coco

        rle = {"size": r.mask.rle.size, "counts": r.mask.rle.counts.encode()}
        assert np.array_equal(coco.decode(rle).astype(bool), mask > 0)


def test_refuses_a_folder_holding_another_build(cli, write_recipe, demo_root, tmp_path):
    out = tmp_path / "b"
    assert build(cli, write_recipe(), out, demo_root).exit_code == 0
    before = tree_digest(out)
    result = build(cli, write_recipe(), out, demo_root, "--seed", "99")
    assert result.exit_code == 2 and "different recipe" in result.output
    assert tree_digest(out) == before
    assert build(cli, write_recipe(), out, demo_root, "--seed", "99", "--overwrite").exit_code == 0
    assert tree_digest(out) != before


def test_a_bad_seed_option_is_named_not_the_recipe_file(cli, write_recipe, demo_root, tmp_path):
    recipe = write_recipe()
    result = build(cli, recipe, tmp_path / "b", demo_root, "--seed", "-1")
    assert result.exit_code == 2 and "--seed: Input should be greater than or equal to 0 (got -1)" in result.output
    assert str(recipe) not in result.output
    assert not (tmp_path / "b").exists()


def test_rebuilding_a_finished_build_is_a_verified_no_op(cli, write_recipe, demo_root, tmp_path):
    out = tmp_path / "b"
    assert build(cli, write_recipe(), out, demo_root).exit_code == 0
    before = tree_digest(out)
    result = build(cli, write_recipe(), out, demo_root)
    assert result.exit_code == 0 and "already built" in result.output and "verified" in result.output
    assert tree_digest(out) == before
    next(out.glob("audio/*/*.wav")).write_bytes(b"RIFF")
    result = build(cli, write_recipe(), out, demo_root)
    assert result.exit_code == 2 and "do not match" in result.output


@pytest.mark.parametrize("overwrite", [False, True])
def test_refuses_a_non_empty_foreign_folder(cli, write_recipe, demo_root, tmp_path, overwrite):
    out = tmp_path / "mine"
    (out / "audio").mkdir(parents=True)
    (out / "audio" / "take1.wav").write_text("keep me")
    (out / "notes.txt").write_text("keep me")
    result = build(cli, write_recipe(), out, demo_root, *(["--overwrite"] if overwrite else []))
    assert result.exit_code == 2 and "not empty" in result.output
    assert sorted(p.name for p in out.rglob("*")) == ["audio", "notes.txt", "take1.wav"]


def test_a_failed_build_is_finished_by_rerunning_with_skip(cli, write_recipe, demo_root, tmp_path):
    bad = tmp_path / "src"
    shutil.copytree(demo_root, bad)
    victim = sorted((bad / "images").iterdir())[3]
    victim.write_bytes(b"not an image")
    out = tmp_path / "b"
    result = build(cli, write_recipe(), out, bad)
    assert result.exit_code == 2 and "--on-error skip" in result.output
    result = build(cli, write_recipe(), out, bad, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "build.json").read_text())["failures"] >= 1


def test_resume_after_kill_finishes_identically(write_recipe, tmp_path):
    """kill -9 a build after its first shard, resume it: same files as an uninterrupted build."""
    root = ensure_demo(tmp_path / "big", images=70, seed=1)  # 140 samples = 3 shards of 64
    recipe = write_recipe()
    out, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [sys.executable, "-m", "negaudio", "build", str(recipe), "--source", str(root), "-o"]
    proc = subprocess.Popen([*cmd, str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / ".negaudio" / "shards" / "00000.jsonl"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists() and not (out / "manifest.jsonl").exists()
    stamp = first.stat().st_mtime_ns
    subprocess.run([*cmd, str(out), "--resume"], check=True, capture_output=True)
    assert first.stat().st_mtime_ns == stamp  # the finished shard was not redone
    subprocess.run([*cmd, str(clean)], check=True, capture_output=True)
    assert tree_digest(out) == tree_digest(clean)
    assert not list(out.rglob("*.tmp"))


def test_verify_names_every_altered_or_missing_file(cli, write_recipe, demo_root, tmp_path):
    out = tmp_path / "b"
    assert build(cli, write_recipe(), out, demo_root).exit_code == 0
    assert cli("verify", out).exit_code == 0
    records = list(negaudio.open_build(out))
    audio = out / records[1].audio.path
    data, rate = sf.read(audio, dtype="int16")
    data[100] += 1
    sf.write(audio, data, rate, subtype="PCM_16")
    (out / records[0].mask.path).unlink()
    result = cli("verify", out)
    assert result.exit_code == 1
    assert f"altered: {records[1].audio.path}" in result.output
    assert result.output.count(f"missing: {records[0].mask.path}") == 1  # once, not again for its item
    assert f"{out}: 2 problem(s)" in result.output
    outside = tmp_path / "outside.wav"  # a file swapped for a link out of the build: that file is named
    shutil.copy(out / records[2].audio.path, outside)
    (out / records[2].audio.path).unlink()
    (out / records[2].audio.path).symlink_to(outside)
    result = cli("verify", out)
    assert f"altered: {records[2].audio.path} (" in result.output and "symbolic link" in result.output
    assert "SHA256SUMS" not in result.output and "manifest.jsonl" not in result.output
    with (out / "SHA256SUMS").open("a") as fh:  # a hostile table line is the table's finding, not a file's
        fh.write(f"{'0' * 64}  ../outside.wav\n")
    result = cli("verify", out)
    assert "altered: SHA256SUMS (manifest path '../outside.wav'" in " ".join(result.output.split())
    (out / "manifest.jsonl").rename(tmp_path / "manifest.jsonl")  # a missing manifest is that file's finding
    result = cli("verify", out)
    assert result.exit_code == 1 and "missing: manifest.jsonl" in result.output and "build.json" not in result.output


def test_manifest_rows_carry_schema_version_and_validate(write_recipe, demo_root, tmp_path, cli):
    out = tmp_path / "b"
    assert build(cli, write_recipe(), out, demo_root).exit_code == 0
    lines = (out / "manifest.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(row["schema_version"] == negaudio.SCHEMA_VERSION for row in rows)
    assert [r["item_id"] for r in rows] == [r.item_id for r in negaudio.open_build(out)]
    info = json.loads((out / "build.json").read_text())
    assert info["items"] == len(rows) and info["dataset"] == {"name": "test-set", "version": "1.0.0", "description": ""}
    assert set(info["dependencies"]) >= {"numpy", "soundfile", "soxr", "libsndfile"}


def test_a_signal_during_the_already_built_check_is_an_interruption_not_a_damaged_build(
    cli, write_recipe, demo_root, tmp_path, monkeypatch
):
    """SIGTERM inside a third-party decode can surface as another exception, which verify would report as a
    finding ('pass --overwrite'); the signal the handler noted wins: exit 143, the build left as it is."""
    import signal

    from negaudio.core.errors import RECEIVED
    from negaudio.manifest import verify as verify_module

    out = tmp_path / "b"
    recipe = write_recipe()
    assert build(cli, recipe, out, demo_root).exit_code == 0
    before = tree_digest(out)
    real = verify_module._check_info

    def disturbed(build_, problems, counts):  # what the race looks like: a signal noted, a false finding
        RECEIVED.append(signal.SIGTERM)
        problems.append(verify_module.Problem("inconsistent", "manifest.jsonl", "unreadable composite masks"))
        return real(build_, problems, counts)

    monkeypatch.setattr(verify_module, "_check_info", disturbed)
    result = build(cli, recipe, out, demo_root)
    assert result.exit_code == 143 and "terminated:" in result.output and "--overwrite" not in result.output
    assert tree_digest(out) == before and not RECEIVED  # the command's block clears what it noted


def test_verify_stops_at_the_first_read_a_signal_broke(cli, write_recipe, demo_root, tmp_path, monkeypatch):
    import signal

    from negaudio.core.errors import RECEIVED, Interrupted
    from negaudio.manifest import verify as verify_module

    out = tmp_path / "b"
    assert build(cli, write_recipe(), out, demo_root).exit_code == 0
    calls = []

    def broken(path, fmt):  # the interrupt surfacing as another exception inside a decode
        calls.append(path)
        RECEIVED.append(signal.SIGTERM)
        raise TypeError("__array__() got an unexpected keyword argument 'copy'")

    monkeypatch.setattr(verify_module, "pcm_sha256_of_file", broken)
    try:
        with pytest.raises(Interrupted):
            verify_module.verify(out)
    finally:
        RECEIVED.clear()
    assert len(calls) == 1  # not one per file of the build
