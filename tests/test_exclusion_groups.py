"""Exclusion groups for off-screen and mismatched draws: a draw leaves out every class of a visible class's group."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from negaudio.core.errors import InputError
from negaudio.kinds.base import PlanContext
from negaudio.kinds.clips import load_groups
from negaudio.kinds.mismatched import Mismatched
from negaudio.kinds.offscreen import Offscreen
from negaudio.recipe.bundled import recipes_dir
from negaudio.recipe.io import validate_file
from negaudio.recipe.models import Recipe

CLASSES = {"dog barking": "animals", "dog howling": "animals", "cat meowing": "animals"}
CLASSES |= {"people coughing": "people", "people cheering": "people", "playing zither": "music"}
CLASSES |= {"playing flute": "music", "helicopter": "vehicle"}


def sample(i: int, label: str):
    return SimpleNamespace(
        sample_id=f"s{i}", audio=f"audio/s{i}.wav", label=label, audio_classes=(), mixed=False, image_classes=[label]
    )


@pytest.fixture
def samples():
    return [sample(i, label) for i, label in enumerate(sorted(CLASSES) * 3)]


@pytest.fixture
def group_file(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("class,group\n" + "".join(f"{c},{g}\n" for c, g in CLASSES.items()))
    return path


def test_bundled_vggsound_supercategories():
    groups = load_groups("vggsound-supercategories")
    assert len(groups.group_of) == 309 and set(groups.members) >= {"animals", "people", "music", "vehicle"}
    assert groups.group_of["dog barking"] == groups.group_of["dog howling"] == "animals"
    assert {"people coughing", "people cheering"} <= groups.expand({"people coughing"})
    assert groups.expand({"not a vggsound class"}) == {"not a vggsound class"}


def test_user_maps_csv_and_json(group_file, tmp_path):
    assert load_groups(str(group_file)).expand({"helicopter"}) == {"helicopter"}
    path = tmp_path / "g.json"
    path.write_text(json.dumps(CLASSES))
    assert load_groups(str(path)).expand({"playing flute"}) == {"playing flute", "playing zither"}
    with pytest.raises(InputError, match="neither a bundled map"):
        load_groups("no-such-map")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="class,group"):
        load_groups(str(tmp_path / "bad.csv"))


@pytest.mark.parametrize("kind", ["offscreen", "mismatched"])
def test_draws_never_share_a_group_with_a_visible_class(kind, samples, group_file):
    plain = {"offscreen": Offscreen, "mismatched": Mismatched}[kind](kind=kind)
    grouped = plain.model_copy(update={"exclude_groups": str(group_file)})
    changed = 0
    same_group = {}
    for spec in (plain, grouped):
        plan = PlanContext(seed=3, samples=samples)
        same_group[spec is grouped] = 0
        for s in samples:
            (drawn,) = spec.draw(kind, s, plan)
            heard = drawn.params["heard_label"]
            assert heard != s.label
            same_group[spec is grouped] += CLASSES[heard] == CLASSES[s.label]
            if spec is grouped:
                assert drawn.params["exclude_groups"] == str(group_file)
                changed += drawn.params["group_changed"]
            else:
                assert "exclude_groups" not in drawn.params and "group_changed" not in drawn.params
    assert same_group[True] == 0 and same_group[False] > 0  # the plain draw does pair classes of one group
    assert changed == same_group[False]  # exactly the plain draws inside a group were redrawn
    # a draw the groups did not change is the plain draw, whole (same clip, same offset)
    for s in samples:
        a = plain.draw(kind, s, PlanContext(seed=3, samples=samples))[0].params
        b = grouped.draw(kind, s, PlanContext(seed=3, samples=samples))[0].params
        if not b["group_changed"]:
            assert {k: v for k, v in b.items() if k not in ("exclude_groups", "group_changed")} == a


def test_the_default_leaves_recipe_hashes_unchanged():
    recipe = validate_file(Recipe, recipes_dir() / "archive" / "vggss-neg@1.0.0.yaml")
    before = recipe.sha256()
    data = recipe.model_dump(mode="json")
    assert "exclude_groups" not in data["negatives"][2]  # plan headers keep the dump of before the field
    data["negatives"][2]["exclude_groups"] = "vggsound-supercategories"
    changed = Recipe.model_validate(data)
    assert changed.sha256() != before and "exclude_groups" not in recipe.canonical_json()


def test_a_build_under_exclusion_groups_reports_the_draws_it_changed(cli, write_recipe, demo_root, tmp_path):
    groups = tmp_path / "demo-groups.csv"
    groups.write_text("class,group\nbell,tonal\nwhistle,tonal\n")
    negatives = [
        {"kind": "offscreen", "pool": "same", "exclude_groups": str(groups)},
        {"kind": "mismatched", "exclude_groups": str(groups)},
    ]
    out = tmp_path / "build"
    result = cli("build", write_recipe(negatives=negatives), "-o", out, "--source", demo_root)
    assert result.exit_code == 0, result.output
    tonal = {"bell", "whistle"}
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    drawn = [r for r in records if r["kind"] in ("offscreen", "mismatched")]
    assert drawn and all(r["params"]["exclude_groups"] == str(groups) for r in drawn)
    for r in drawn:
        visible = set(r["image_classes"])
        assert r["heard_label"] not in visible
        assert not (visible & tonal and r["heard_label"] in tonal)
    for name in ("offscreen", "mismatched"):
        changed = sum(r["params"]["group_changed"] for r in drawn if r["name"] == name)
        count = sum(r["name"] == name for r in drawn)
        assert f"{name}: exclusion groups {groups} changed {changed} of {count} draws" in " ".join(
            result.output.split()
        )
