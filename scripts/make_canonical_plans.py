"""Canonical plans of the bundled benchmark recipes, made from the public annotation files alone (no media).

Each plan fixes every draw (off-screen and mismatched clips, noise seeds) of a recipe over the full test list,
so that anyone renders the same items against their own copy of the dataset::

    negaudio build --plan manifests/<name>/<version>/plan.jsonl.gz --source <dataset root> [--allow-missing]

Boxes stay in the annotations' own frame (``box_space``) and are scaled to the stored frames when rendering.
Every version of each recipe is made: the latest (``recipes/<name>.yaml``) and each archived one
(``recipes/archive/<name>@<version>.yaml``), so that earlier versions stay reproducible byte for byte.
Writes ``manifests/<name>/<version>/{plan.jsonl.gz, SHA256SUMS, README.md}``. Usage::

    python scripts/make_canonical_plans.py [--annotations DIR] [--out DIR] [--only NAME[@VERSION] ...]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from negaudio.planning.planfile import read_plan, write_plan
from negaudio.planning.planner import make_plan
from negaudio.recipe.bundled import bundled_versions, resolve_recipe
from negaudio.recipe.io import validate_data, validate_file
from negaudio.recipe.models import Recipe
from negaudio.sources import flickr, is3, ms3, s4, vggss

REPO = Path(__file__).resolve().parents[1]


class CanonicalSet(NamedTuple):
    recipe: str
    module: object
    annotations: str
    layout: str


SETS = (
    CanonicalSet(
        "is3plus",
        is3,
        "is3_synthetic3240_bbox.json",
        "IS3 release: `images/<name>.jpg`, `audio_wav/<name>.wav`; boxes in 224-px space",
    ),
    CanonicalSet("vggss-neg", vggss, "vggss.json", "VGG-SS: `frames/<id>.jpg`, `audio/<id>.wav`; boxes normalised"),
    CanonicalSet("un-vggss", vggss, "vggss.json", "VGG-SS: `frames/<id>.jpg`, `audio/<id>.wav`; boxes normalised"),
    CanonicalSet(
        "s4-neg",
        s4,
        "s4_box.json",
        "AVSBench `Single-source/`: `s4_data/{visual_frames,gt_masks,audio_wav}/test/...`; mask GT",
    ),
    CanonicalSet(
        "un-s4",
        s4,
        "s4_box.json",
        "AVSBench `Single-source/`: `s4_data/{visual_frames,gt_masks,audio_wav}/test/...`; mask GT",
    ),
    CanonicalSet(
        "ms3-neg",
        ms3,
        "ms3_box.json",
        "AVSBench `Multi-sources/`: `ms3_data/{visual_frames,gt_masks,audio_wav}/...`; mask GT",
    ),
    CanonicalSet(
        "flickr-neg",
        flickr,
        "flickr_test.csv",
        "Flickr-SoundNet: `frames/<id>.jpg`, `audio/<id>.wav`; NO boxes in the plan (made without the "
        "per-image XML annotations): build the recipe on your copy for GT",
    ),
)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_recipe(spec: str) -> tuple[Recipe, str]:
    """A bundled recipe (``NAME@VERSION``); IS3+ gets the ``is3`` source while the bundled file still names the
    demo source."""
    path, _ = resolve_recipe(spec)
    name = spec.partition("@")[0]
    recipe = validate_file(Recipe, path)
    if name == "is3plus" and recipe.source.kind != "is3":
        recipe = validate_data(Recipe, {**recipe.model_dump(mode="json"), "source": {"kind": "is3"}}, path=path)
        return recipe, "source replaced by `{kind: is3}`: the bundled recipe still names the demo source"
    return recipe, ""


def make(spec: CanonicalSet, version: str, annotations: Path, out: Path) -> dict:
    """Write the canonical plan of one version of a recipe with its SHA256SUMS and README; return its figures.

    A plan already in ``out`` is never rewritten: it is kept when the new one has the same rows and header (the
    writer's ``negaudio_version``/``schema_version`` aside), so committed versions stay byte-identical, and any
    other difference is an error (a published version does not change)."""
    recipe, change = load_recipe(f"{spec.recipe}@{version}")
    source = spec.module.plan_source(recipe.source, annotations)
    header, rows, failures = make_plan(recipe, source)
    header["source"]["annotations"] = {"file": annotations.name, "sha256": file_sha256(annotations)}
    folder = out / recipe.name / recipe.version
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "plan.jsonl.gz"
    made = plan if not plan.exists() else folder / "new-plan.jsonl.gz"
    write_plan(made, header, rows)
    if failures:
        made.unlink()
        raise SystemExit(f"{spec.recipe}: {len(failures)} sample(s) could not be planned: {failures[:3]}")
    if made != plan:
        same = same_plan(plan, made)
        made.unlink()
        if not same:
            raise SystemExit(f"{plan}: the committed plan of {recipe.name} {recipe.version} would change")
    header, written = read_plan(plan)
    written = list(written)
    kinds = Counter(row.kind for row in written)
    changed = Counter(row.name for row in written if row.params.get("group_changed"))
    figures = {
        "recipe": recipe.name,
        "version": recipe.version,
        "samples": source.report.kept,
        "items": sum(kinds.values()),
        "kinds": dict(sorted(kinds.items())),
        "bytes": plan.stat().st_size,
        "file_sha256": file_sha256(plan),
        "content_sha256": hashlib.sha256(gzip.decompress(plan.read_bytes())).hexdigest(),
        "group_changed": {name: changed[name] for name in sorted(_grouped_names(recipe))},
        "kinds_by_name": dict(Counter(row.name for row in written)),
    }
    (folder / "SHA256SUMS").write_text(f"{figures['file_sha256']}  plan.jsonl.gz\n")
    recipe_file = resolve_recipe(f"{spec.recipe}@{version}")[0].relative_to(REPO / "recipes").as_posix()
    (folder / "README.md").write_text(readme(spec, recipe, recipe_file, header, figures, change))
    return figures


def same_plan(a: Path, b: Path) -> bool:
    """Whether two plans hold the same rows and header, the writer's version fields aside."""
    (ha, ra), (hb, rb) = read_plan(a), read_plan(b)
    for h in (ha, hb):
        h.pop("negaudio_version"), h.pop("schema_version")
    return ha == hb and list(ra) == list(rb)


def _grouped_names(recipe: Recipe) -> list[str]:
    """The item names a recipe draws under exclusion groups."""
    return [
        item
        for spec, _, items in recipe.entries()
        if getattr(spec, "exclude_groups", None) is not None
        for item in items
    ]


def group_map(recipe: Recipe) -> str:
    return next(spec.exclude_groups for spec in recipe.negatives if getattr(spec, "exclude_groups", None))


def readme(spec: CanonicalSet, recipe: Recipe, recipe_file: str, header: dict, figures: dict, change: str) -> str:
    ann = header["source"]["annotations"]
    report = header["source"]["report"]
    lines = [
        f"# Canonical plan: {recipe.name} {recipe.version}",
        "",
        f"{recipe.description}. Made from the annotation file alone (no media) by",
        "`python scripts/make_canonical_plans.py` (negaudio "
        f"{header['negaudio_version']}, recipe `recipes/{recipe_file}`, seed {recipe.seed}).",
        "",
        f"- annotations: `{ann['file']}`, sha256 `{ann['sha256']}`",
        f"- recipe sha256: `{header['recipe_sha256']}`" + (f"; {change}" if change else ""),
        f"- samples: {figures['samples']}; items: {figures['items']} "
        f"({', '.join(f'{k} {n}' for k, n in figures['kinds'].items())})",
        *(
            f"- exclusion groups `{group_map(recipe)}` changed {n} of {figures['kinds_by_name'][name]} `{name}` draws"
            for name, n in figures["group_changed"].items()
        ),
        f"- left out by the adapter: {json.dumps(report['missing']) if report['missing'] else 'none'}",
        *(f"- note: {note}" for note in report["notes"]),
        f"- plan content sha256 (uncompressed JSONL): `{figures['content_sha256']}`; file: see `SHA256SUMS`",
        f"- layout expected under `--source`: {spec.layout}",
        "",
        "Render against your copy (a partial copy needs `--allow-missing`; the items it can render are the same):",
        "",
        "```",
        f"negaudio build --plan manifests/{recipe.name}/{recipe.version}/plan.jsonl.gz --source <dataset root>",
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--annotations",
        type=Path,
        required=True,
        help="folder holding the official annotation files (is3_synthetic3240_bbox.json, vggss.json, s4_box.json, "
        "ms3_box.json, flickr_test.csv)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "manifests", help="output folder")
    parser.add_argument(
        "--only", action="append", help="recipe NAME (every version) or NAME@VERSION to make (default: all)"
    )
    args = parser.parse_args(argv)
    for spec in SETS:
        for version in bundled_versions(spec.recipe):
            if args.only and not {spec.recipe, f"{spec.recipe}@{version}"} & set(args.only):
                continue
            figures = make(spec, version, args.annotations / spec.annotations, args.out)
            changed = "".join(
                f"; exclusion groups changed {n} of {figures['kinds_by_name'][name]} {name} draws"
                for name, n in figures["group_changed"].items()
            )
            print(
                f"{figures['recipe']} {figures['version']}: {figures['samples']} samples, {figures['items']} items, "
                f"{figures['bytes']} bytes{changed}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
