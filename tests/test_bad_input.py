"""Bad input gets a clear message naming the file or field and exit code 2; ``--on-error skip`` lists the bad
samples in failures.jsonl and completes; nothing partial ever reaches manifest.jsonl."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import negaudio


@pytest.fixture
def source(demo_root, tmp_path) -> Path:
    """A private copy of the demo source, to damage."""
    root = tmp_path / "src"
    shutil.copytree(demo_root, root)
    return root


def first_sample(root: Path) -> dict:
    return json.loads((root / "index.jsonl").read_text().splitlines()[0])


def damage_and_build(cli, write_recipe, source, tmp_path, damage, *extra):
    sample = first_sample(source)
    damage(source, sample)
    out = tmp_path / "out"
    return sample, out, cli("build", write_recipe(), "-o", out, "--source", source, *extra)


def zero_length(root, sample):
    sf.write(root / sample["audio"], np.zeros((0, 1), dtype=np.float32), 16000)


def all_nan(root, sample):
    sf.write(root / sample["audio"], np.full((16000, 1), np.nan, dtype=np.float32), 16000, subtype="FLOAT")


def garbage_image(root, sample):
    (root / sample["image"]).write_bytes(b"not an image at all")


def truncated_image(root, sample):
    path = root / sample["image"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncated_jpeg(root, sample):
    from PIL import Image

    path = root / sample["image"]  # keep the name: a JPEG under a .png name is still read by its content
    with Image.open(path) as im:
        im.convert("RGB").save(path, format="JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def missing_audio(root, sample):
    (root / sample["audio"]).unlink()


def not_audio(root, sample):
    (root / sample["audio"]).write_text("RIFF? no.")


def low_rate(root, sample):
    sf.write(root / sample["audio"], np.zeros((500, 1), dtype=np.float32) + 0.1, 500)


DAMAGES = {
    "zero-length audio": (zero_length, "audio"),
    "all-NaN audio": (all_nan, "audio"),
    "unreadable image": (garbage_image, "image"),
    "truncated PNG": (truncated_image, "image"),
    "truncated JPEG": (truncated_jpeg, "image"),
    "missing audio": (missing_audio, "audio"),
    "not an audio file": (not_audio, "audio"),
    "unsupported sample rate": (low_rate, "audio"),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_bad_media_fails_naming_the_file(cli, write_recipe, source, tmp_path, case):
    damage, field = DAMAGES[case]
    sample, out, result = damage_and_build(cli, write_recipe, source, tmp_path, damage)
    assert result.exit_code == 2, result.output
    assert sample[field].split("/")[-1] in result.output
    assert str(source / sample[field]) in result.output  # where it is (failures.jsonl: relative to the source)
    assert not (out / "manifest.jsonl").exists()


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_on_error_skip_lists_the_bad_sample_and_completes(cli, write_recipe, source, tmp_path, case):
    damage, _ = DAMAGES[case]
    sample, out, result = damage_and_build(cli, write_recipe, source, tmp_path, damage, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sample["sample_id"] in {f["sample_id"] for f in failures}
    build = negaudio.open_build(out)
    assert sample["sample_id"] not in {r.sample_id for r in build}
    assert build.info["partial"] is True
    assert cli("verify", out).exit_code == 0
    assert not list(out.rglob(f"{sample['sample_id']}*"))  # a bad sample leaves no file behind
    reasons = (out / "failures.jsonl").read_text()
    assert " at 0x" not in reasons and str(source) not in reasons  # no address, no machine's path: a stable hash


def test_an_unreadable_image_fails_with_the_same_reason_every_run(cli, write_recipe, source, tmp_path):
    _, out, first = damage_and_build(cli, write_recipe, source, tmp_path, garbage_image, "--on-error", "skip")
    assert first.exit_code == 0
    elsewhere, again = tmp_path / "elsewhere" / "copy", tmp_path / "again"
    shutil.copytree(source, elsewhere)  # the same data at another path (another machine)
    assert cli("build", write_recipe(), "-o", again, "--source", elsewhere, "--on-error", "skip").exit_code == 0
    assert "not an image format Pillow reads" in (out / "failures.jsonl").read_text()
    assert negaudio.open_build(out).info["build_sha256"] == negaudio.open_build(again).info["build_sha256"]


def test_unsupported_channel_mapping(cli, write_recipe, source, tmp_path):
    sample = first_sample(source)
    sf.write(source / sample["audio"], np.full((16000, 3), 0.1, dtype=np.float32), 16000)
    audio = {"sample_rate": 16000, "channels": 2, "duration": {"policy": "match"}, "format": "wav_pcm16"}
    result = cli("build", write_recipe(audio=audio), "-o", tmp_path / "o", "--source", source)
    assert result.exit_code == 2
    assert sample["audio"].split("/")[-1] in result.output and "3 channels" in result.output


def write_index(root: Path, rows: list[dict]) -> None:
    (root / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_class_with_no_offscreen_candidate(cli, write_recipe, source, tmp_path):
    rows = [json.loads(line) for line in (source / "index.jsonl").read_text().splitlines()]
    every_class = sorted({r["label"] for r in rows})
    rows[0]["image_classes"] = every_class  # everything is visible: nothing can be off-screen
    write_index(source, rows)
    recipe = write_recipe()
    result = cli("build", recipe, "-o", tmp_path / "a", "--source", source)
    assert result.exit_code == 2
    assert rows[0]["sample_id"] in result.output and "no off-screen candidate" in result.output
    result = cli("build", recipe, "-o", tmp_path / "b", "--source", source, "--on-error", "skip")
    assert result.exit_code == 0
    failure = json.loads((tmp_path / "b" / "failures.jsonl").read_text().splitlines()[0])
    assert failure["sample_id"] == rows[0]["sample_id"] and failure["stage"] == "plan"
    assert len({r.sample_id for r in negaudio.open_build(tmp_path / "b")}) == len(rows) - 1


def test_index_errors_name_the_line(cli, write_recipe, source, tmp_path):
    lines = (source / "index.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"label"', '"lable"')
    (source / "index.jsonl").write_text("\n".join(lines) + "\n")
    result = cli("build", write_recipe(), "-o", tmp_path / "o", "--source", source)
    assert result.exit_code == 2 and "index.jsonl:3" in result.output and "'label'" in result.output


def test_a_recipe_typo_names_file_line_and_column(cli, tmp_path, demo_root):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text("name: typo\nseed: 1\nsource:\n  kind: folder\nnegatives:\n  - kind: noise\n    colour: pink\n")
    result = cli("build", recipe, "-o", tmp_path / "o", "--source", demo_root)
    assert result.exit_code == 2
    assert f"{recipe}:7:5" in result.output and "colour" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_source_folder(cli, write_recipe, tmp_path):
    result = cli("build", write_recipe(), "-o", tmp_path / "o", "--source", tmp_path / "nowhere")
    assert result.exit_code == 2 and "nowhere" in result.output
