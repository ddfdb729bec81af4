"""Recipe loading: exact file:line:col positions for YAML and TOML validation and syntax errors."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from negaudio.core.errors import InputError
from negaudio.recipe.io import (
    Locator,
    Problem,
    RecipeError,
    document_loc,
    load_document,
    validate_data,
    validate_file,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Level(Strict):
    snr_db: float
    gain: float = 1.0


class Noise(Strict):
    kind: Literal["noise"]
    level: Level


class Speech(Strict):
    kind: Literal["speech"]
    text: str


class Silence(Strict):
    kind: Literal["silence"]
    seconds: float = 1.0


class Recipe(Strict):
    name: str
    seed: int
    negatives: list[Annotated[Noise | Speech | Silence, Field(discriminator="kind")]]


GOOD_YAML = """\
# a recipe
name: demo
seed: 7
negatives:
  - kind: noise
    level:
      snr_db: 5
  - kind: speech
    text: hello
"""

GOOD_TOML = """\
# a recipe
name = "demo"
seed = 7

[[negatives]]
kind = "noise"
level = { snr_db = 5.0 }

[[negatives]]
kind = "speech"
text = "hello"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(model: type[BaseModel], path: Path) -> list[tuple[str, int | None, int | None, str]]:
    with pytest.raises(RecipeError) as info:
        validate_file(model, path)
    assert info.value.path == path
    return [(".".join(map(str, p.loc)), p.line, p.column, p.message) for p in info.value.problems]


def raised(fn, *args) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        fn(*args)
    return info.value


def only_problem(model: type[BaseModel], path: Path) -> Problem:
    with pytest.raises(RecipeError) as info:
        validate_file(model, path)
    assert len(info.value.problems) == 1, str(info.value)
    return info.value.problems[0]


@pytest.mark.parametrize(("name", "text"), [("r.yaml", GOOD_YAML), ("r.yml", GOOD_YAML), ("r.toml", GOOD_TOML)])
def test_valid_file_returns_the_model(tmp_path, name, text):
    recipe = validate_file(Recipe, write(tmp_path, name, text))
    assert isinstance(recipe, Recipe)
    assert recipe.seed == 7
    assert recipe.negatives[0] == Noise(kind="noise", level=Level(snr_db=5.0))
    assert recipe.negatives[1] == Speech(kind="speech", text="hello")


def test_yaml_loads_plain_builtin_values(tmp_path):
    data, _ = load_document(write(tmp_path, "r.yaml", "a: &x true\nb: *x\nc: 1.5\nd: [1, 'x']\ne: !tag v\n"))
    assert data == {"a": True, "b": True, "c": 1.5, "d": [1, "x"], "e": "v"}
    assert [type(data[k]) for k in "abc"] == [bool, bool, float]
    assert type(data) is dict and type(data["d"]) is list and type(data["d"][1]) is str


def test_yaml_wrong_type_deep_in_list(tmp_path):
    text = GOOD_YAML.replace("snr_db: 5", "snr_db: ten")
    error = raised(validate_file, Recipe, write(tmp_path, "r.yaml", text))
    assert error.exit_code == 2 and isinstance(error, InputError)
    assert error.problems == [
        Problem(
            ("negatives", 0, "level", "snr_db"),
            7,
            15,
            "Input should be a valid number, unable to parse string as a number",
            "'ten'",
        )
    ]
    path = tmp_path / "r.yaml"
    assert str(error) == (
        f"{path}:7:15: negatives.0.level.snr_db: "
        "Input should be a valid number, unable to parse string as a number (got 'ten')"
    )


def test_yaml_unknown_key_points_at_the_key(tmp_path):
    text = GOOD_YAML.replace("    text: hello", "    text: hello\n    txet: hello")
    assert problems(Recipe, write(tmp_path, "r.yaml", text)) == [
        ("negatives.1.txet", 10, 5, "Extra inputs are not permitted; did you mean 'text'?")
    ]


def test_yaml_unknown_key_in_flow_mapping(tmp_path):
    text = GOOD_YAML.replace("    level:\n      snr_db: 5", "    level: {snr_db: 5, gian: 2}")
    assert problems(Recipe, write(tmp_path, "r.yaml", text)) == [
        ("negatives.0.level.gian", 6, 24, "Extra inputs are not permitted; did you mean 'gain'?")
    ]


def test_yaml_missing_field_points_at_parent_mapping(tmp_path):
    text = GOOD_YAML.replace("    text: hello\n", "")
    assert problems(Recipe, write(tmp_path, "r.yaml", text)) == [("negatives.1", 8, 5, "Field required: 'text'")]
    top = write(tmp_path, "top.yaml", GOOD_YAML.replace("seed: 7\n", ""))
    assert problems(Recipe, top) == [("", 2, 1, "Field required: 'seed'")]
    assert str(raised(validate_file, Recipe, top)) == (f"{top}:2:1: Field required: 'seed'")


def test_yaml_bad_discriminator_points_at_kind_value(tmp_path):
    text = GOOD_YAML.replace("kind: speech", "kind: speach")
    error = raised(validate_file, Recipe, write(tmp_path, "r.yaml", text))
    assert error.problems == [
        Problem(
            ("negatives", 1, "kind"),
            8,
            11,
            "Input should be one of 'noise', 'speech', 'silence'; did you mean 'speech'?",
            "'speach'",
        )
    ]


def test_yaml_missing_discriminator(tmp_path):
    text = GOOD_YAML.replace("  - kind: speech\n    text", "  - text")
    assert problems(Recipe, write(tmp_path, "r.yaml", text)) == [("negatives.1", 8, 5, "Field required: 'kind'")]


def test_yaml_multiple_errors_all_reported(tmp_path):
    text = """\
name: demo
negatives:
  - kind: noise
    level:
      snr_db: loud
      gain: [1]
  - kind: silence
    seconds: 2
    extra: 1
  - kind: speech
"""
    path = write(tmp_path, "r.yaml", text)
    assert problems(Recipe, path) == [
        ("", 1, 1, "Field required: 'seed'"),
        (
            "negatives.0.level.snr_db",
            5,
            15,
            "Input should be a valid number, unable to parse string as a number",
        ),
        ("negatives.0.level.gain", 6, 13, "Input should be a valid number"),
        ("negatives.1.extra", 9, 5, "Extra inputs are not permitted"),
        ("negatives.2", 10, 5, "Field required: 'text'"),
    ]
    assert len(str(raised(validate_file, Recipe, path)).splitlines()) == 5


def test_yaml_syntax_error_has_parser_position(tmp_path):
    path = write(tmp_path, "r.yaml", "name: demo\nseed: 1\n  bad: indent\n")
    problem = only_problem(Recipe, path)
    assert (problem.loc, problem.line, problem.column) == ((), 3, 6)
    assert problem.message == "YAML syntax error: mapping values are not allowed here"
    assert str(raised(load_document, path)).startswith(f"{path}:3:6: YAML syntax")


def test_yaml_duplicate_key_is_a_syntax_error(tmp_path):
    problem = only_problem(Recipe, write(tmp_path, "r.yaml", "name: a\nseed: 1\nname: b\n"))
    assert (problem.line, problem.column) == (3, 1)
    assert "duplicate key" in problem.message


@pytest.mark.parametrize(("text", "got"), [("- 1\n", "list"), ("just text\n", "str"), ("", None)])
def test_yaml_top_level_must_be_a_mapping(tmp_path, text, got):
    problem = only_problem(Recipe, write(tmp_path, "r.yaml", text))
    assert problem.message.startswith("top level must be a mapping")
    assert (got or "empty") in problem.message


def test_toml_wrong_type_inside_array_of_tables(tmp_path):
    text = GOOD_TOML.replace('text = "hello"', "text = 3")
    assert problems(Recipe, write(tmp_path, "r.toml", text)) == [
        ("negatives.1.text", 11, 8, "Input should be a valid string")
    ]


def test_toml_inline_table_and_subtable_positions(tmp_path):
    text = GOOD_TOML.replace("snr_db = 5.0", "snr_db = 'x'") + '\n[[negatives]]\nkind = "noise"\n'
    text += "  [negatives.level]\n  snr_db = 1\n  gian = 2  # typo\n"
    path = write(tmp_path, "r.toml", text)
    assert problems(Recipe, path) == [
        (
            "negatives.0.level.snr_db",
            7,
            20,
            "Input should be a valid number, unable to parse string as a number",
        ),
        ("negatives.2.level.gian", 17, 3, "Extra inputs are not permitted; did you mean 'gain'?"),
    ]


def test_toml_missing_field_and_bad_kind(tmp_path):
    text = GOOD_TOML.replace("seed = 7\n", "").replace('kind = "speech"', 'kind = "speech"\n"text" = 1')
    text = text.replace('text = "hello"', "") + '\n[[negatives]]\nkind = "loud"\n'
    assert problems(Recipe, write(tmp_path, "r.toml", text)) == [
        ("", 2, 1, "Field required: 'seed'"),
        ("negatives.1.text", 10, 10, "Input should be a valid string"),
        ("negatives.2.kind", 14, 8, "Input should be one of 'noise', 'speech', 'silence'"),
    ]


def test_toml_scanner_skips_strings_and_multiline_arrays(tmp_path):
    text = '''\
name = """
[[negatives]]
seed = "not a key"
"""
a.'b c' = [
  1,  # comment ]
  { x = "}" },
  [2, 3],
]
[t]
[[t.u]]
v = 1
[[t.u]]
v = 2
'''
    data, locator = load_document(write(tmp_path, "r.toml", text))
    assert data["a"]["b c"][1] == {"x": "}"}
    assert locator.locate(("name",)) == (1, 8)
    assert locator.locate(("seed",)) == (1, 1)  # inside the string: not a key, falls back to the root
    assert locator.locate(("a", "b c"), key=True) == (5, 1)
    assert locator.locate(("a", "b c", 1, "x")) == (7, 9)
    assert locator.locate(("a", "b c", 2, 1)) == (8, 7)
    assert locator.locate(("t", "u", 1, "v")) == (14, 5)
    assert locator.locate(("t", "u", 1, "w")) == (13, 1)  # nearest ancestor: the [[t.u]] header


def test_toml_syntax_error_has_parser_position(tmp_path):
    path = write(tmp_path, "r.toml", 'name = "demo"\nseed = 7\nnegatives = [1,\n')
    problem = only_problem(Recipe, path)
    assert (problem.loc, problem.line, problem.column) == ((), 4, 1)
    assert problem.message.startswith("TOML syntax error: ")
    assert "(at line" not in problem.message
    assert str(raised(load_document, path)).startswith(f"{path}:4:1: TOML syntax")


def test_unknown_extension(tmp_path):
    path = write(tmp_path, "r.json", "{}")
    error = raised(load_document, path)
    assert str(error) == f"{path}: unknown recipe format '.json': expected .yaml, .yml or .toml"
    assert error.exit_code == 2


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    error = raised(validate_file, Recipe, path)
    assert error.path == path
    assert str(error) == f"{path}: recipe file not found"


def test_unreadable_file(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    assert str(raised(load_document, tmp_path / "dir.toml")).startswith(
        f"{tmp_path / 'dir.toml'}: cannot read recipe file"
    )


def test_validate_data_with_overrides_keeps_positions(tmp_path):
    path = write(tmp_path, "r.yaml", GOOD_YAML)
    data, locator = load_document(path)
    data["seed"] = "abc"
    error = raised(validate_data, Recipe, data, path, locator)
    assert str(error) == (
        f"{path}:3:7: seed: Input should be a valid integer, unable to parse string as an integer (got 'abc')"
    )
    error = raised(validate_data, Recipe, {"name": "x" * 100, "seed": 1})
    assert str(error) == "Field required: 'negatives'"
    error = raised(validate_data, Recipe, {"name": ["x" * 100], "seed": 1, "negatives": []})
    assert str(error) == f"name: Input should be a valid string (got ['{'x' * 55}...)"


def test_document_loc_strips_union_tags():
    data = {"negatives": [{"kind": "noise", "level": {"snr_db": "x"}}], "x": [1]}
    assert document_loc(data, ("negatives", 0, "noise", "level", "snr_db")) == (
        ("negatives", 0, "level", "snr_db"),
        "x",
    )
    assert document_loc(data, ("x", "int")) == (("x",), [1])
    assert document_loc(data, ("x", 5)) == (("x",), [1])


def test_locator_falls_back_to_nearest_ancestor():
    locator = Locator(values={(): (1, 1), ("a",): (2, 3), ("a", 0): (3, 5)}, keys={("a",): (2, 1)})
    assert locator.locate(("a", 0, "b", "c")) == (3, 5)
    assert locator.locate(("a",), key=True) == (2, 1)
    assert locator.locate(("a", 0), key=True) == (3, 5)
    assert locator.locate(("z",)) == (1, 1)
    assert Locator().locate(("z",)) == (None, None)


class Rms(Strict):
    rms_dbfs: float


class Sigma(Strict):
    sigma: float = Field(gt=0)


class Mix(Strict):
    level: Rms | Sigma
    tag: int | str = 0


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("{sigma: 0}", [("level.sigma", 2, 16, "Input should be greater than 0")]),
        (
            "{rms_dbfs: x}",
            [("level.rms_dbfs", 2, 19, "Input should be a valid number, unable to parse string as a number")],
        ),
        (
            "{sgma: 1}",
            [  # the member whose field the unknown key misspells wins the tie
                ("level", 2, 8, "Field required: 'sigma'"),
                ("level.sgma", 2, 9, "Extra inputs are not permitted; did you mean 'sigma'?"),
            ],
        ),
    ],
)
def test_plain_union_reports_the_closest_member(tmp_path, level, expected):
    path = write(tmp_path, "r.yaml", f"tag: [1]\nlevel: {level}\n")
    assert problems(Mix, path) == [
        ("tag", 1, 6, "Input should be a valid integer"),
        ("tag", 1, 6, "Input should be a valid string"),
        *expected,
    ]


def test_problems_are_in_file_order_and_error_pickles(tmp_path):
    path = write(tmp_path, "r.yaml", "negatives:\n  - kind: silence\n    seconds: long\nseed: x\nname: demo\n")
    error = raised(validate_file, Recipe, path)
    assert [p.line for p in error.problems] == [3, 4]
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.problems, str(copy)) == (error.path, error.problems, str(error))
