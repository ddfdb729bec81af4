"""Bad composite banks and recipes: exit 2 with a message naming the file or field, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_composite import make_bank


@pytest.fixture(scope="module")
def good_bank(tmp_path_factory) -> Path:
    return make_bank(tmp_path_factory.mktemp("bank") / "bank")


@pytest.fixture
def bank(good_bank, tmp_path) -> Path:
    copy = tmp_path / "bank"
    shutil.copytree(good_bank, copy)
    return copy


def run(cli, write_recipe, bank: Path, out: Path, *extra: str, **source):
    recipe = write_recipe(source={"kind": "composite", "images": 4, **source})
    return cli("build", recipe, "-o", out, "--source", bank, *extra)


def refused(result, out: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    for word in words:
        assert word in text, text
    assert not out.exists()


def test_a_cutout_without_alpha(cli, write_recipe, bank, tmp_path):
    Image.new("RGB", (40, 40), (10, 200, 10)).save(bank / "objects" / "bell" / "flat.png")
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out), out, "flat.png", "no alpha")


def test_a_cutout_with_an_empty_alpha(cli, write_recipe, bank, tmp_path):
    Image.new("RGBA", (40, 40), (10, 200, 10, 0)).save(bank / "objects" / "drum" / "ghost.png")
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out), out, "ghost.png", "alpha is empty")


def test_an_object_larger_than_the_canvas_at_the_minimum_scale(cli, write_recipe, bank, tmp_path):
    Image.new("RGBA", (400, 10), (10, 200, 10, 255)).save(bank / "objects" / "drum" / "pole.png")
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out, scale={"uniform": [0.5, 0.6]}), out, "pole.png", "source.scale")


def test_a_class_with_no_sound(cli, write_recipe, bank, tmp_path):
    shutil.rmtree(bank / "audio" / "bird")
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out), out, "'bird'", "no clip", "audio.silent")
    # a class that never sounds is fine when it is declared silent
    ok = run(cli, write_recipe, bank, tmp_path / "ok", audio={"silent": ["bird"]}, sounding=1, distractors=1)
    assert ok.exit_code == 0, ok.output


def test_an_object_class_mapped_to_no_sound_class(cli, write_recipe, bank, tmp_path):
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out, audio={"class_map": {"drum": []}}), out, "class_map", "'drum'")
    out2 = tmp_path / "out2"
    result = run(cli, write_recipe, bank, out2, audio={"class_map": {"drum": ["tabla"]}})
    refused(result, out2, "'drum'", "'tabla'", "no clip")


def test_an_unreadable_background(cli, write_recipe, bank, tmp_path):
    (bank / "backgrounds" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out), out, "broken.png", "background")


def test_a_placement_that_cannot_meet_its_occlusion_constraint(cli, write_recipe, bank, tmp_path):
    hard = {"scale": {"uniform": [0.2, 0.7]}, "max_occluded": 0.0, "retries": 1, "images": 8}
    out = tmp_path / "out"
    refused(run(cli, write_recipe, bank, out, **hard), out, "retries", "max_occluded")
    skipped = run(cli, write_recipe, bank, tmp_path / "skip", "--on-error", "skip", **hard)
    assert skipped.exit_code == 0, skipped.output
    failures = [json.loads(line) for line in (tmp_path / "skip" / "failures.jsonl").read_text().splitlines()]
    assert failures and all("max_occluded" in f["error"] and f["stage"] == "plan" for f in failures)
    info = json.loads((tmp_path / "skip" / "build.json").read_text())
    assert info["failures"] == len(failures) and info["counts"]["positive"] == 2 * (8 - len(failures))


def test_a_plan_with_a_malformed_composite_spec(cli, write_recipe, bank, tmp_path):
    assert run(cli, write_recipe, bank, tmp_path / "a").exit_code == 0
    lines = (tmp_path / "a" / "plan.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["composite"]["objects"][0]["cutout"] = "../../etc/passwd"
    plan = tmp_path / "bad.jsonl"
    plan.write_text("\n".join([lines[0], json.dumps(row)]) + "\n")
    out = tmp_path / "out"
    refused(cli("build", "--plan", plan, "--source", bank, "-o", out), out, "bad.jsonl:2", "cut-out", "leaves its root")
    row["composite"]["objects"][0]["cutout"] = np.__name__  # a file that is not there
    plan.write_text("\n".join([lines[0], json.dumps(row)]) + "\n")
    result = cli("build", "--plan", plan, "--source", bank, "-o", out)
    refused(result, out, "missing", "numpy")


def test_multi_source_with_fewer_levels_than_sounding_objects_names_the_field(cli, write_recipe, bank, tmp_path):
    out = tmp_path / "out"
    result = run(cli, write_recipe, bank, out, multi_source={"levels_db": [0]})
    refused(result, out, "source.multi_source.levels_db", "1 level(s) for 2 sounding objects")
