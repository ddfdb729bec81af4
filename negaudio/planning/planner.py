"""Recipe + source -> plan rows. Every random choice is resolved here, once, and written down.

Each item's generator comes from ``SeedSequence(recipe seed, spawn_key=words(sha256(sample_id/item name)))``:
no global RNG, no dependence on order, worker count or the other items of the recipe. The draws themselves
belong to the item kinds (:mod:`negaudio.kinds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from negaudio import SCHEMA_VERSION, __version__
from negaudio.core.cache import CACHE_REF, cache_dir
from negaudio.core.errors import InputError, SampleError
from negaudio.kinds import PlanContext
from negaudio.planning.rows import PlanRow
from negaudio.recipe.models import Recipe
from negaudio.sources import Sample, Source

PLAN_FORMAT = 1


def sample_rows(recipe: Recipe, sample: Sample, plan: PlanContext, index: int) -> list[PlanRow]:
    """The plan rows of one sample: its positive, each negative, and the noisy positives (a mixed sample: its
    positive only)."""
    regions = [asdict(r) for r in sample.regions]
    entries = recipe.entries()[:1] if sample.mixed else recipe.entries()
    return [
        PlanRow(
            item_id=f"{sample.sample_id}__{drawn.name}",
            kind=spec.kind,
            name=drawn.name,
            sample_index=index,
            sample_id=sample.sample_id,
            group=sample.group,
            label=sample.label,
            image_classes=list(sample.image_classes),
            image=sample.image,
            audio=sample.audio,
            regions=regions,
            params=drawn.params,
            seed=drawn.seed,
            composite=sample.extra.get("composite"),
        )
        for spec, name, _ in entries
        for drawn in spec.draw(name, sample, plan)
    ]


def plan_header(recipe: Recipe, source: Source, limit: int | None) -> dict:
    described = {"kind": source.name, "report": asdict(source.report), **_cache_root(Path(source.root))}
    if hasattr(source, "bank_info"):  # a composite build names the bank it was made from
        described["bank"] = source.bank_info()
    return {
        "negaudio_plan": PLAN_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "negaudio_version": __version__,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_sha256": recipe.sha256(),
        "source": described,
        "limit": limit,
    }


def _cache_root(root: Path) -> dict:
    """A source generated into the negaudio cache (the embedded bank) is named there, so ``build --plan``
    finds it without ``--source``; any other root stays out of the plan, which is portable."""
    try:
        return {"cache_root": CACHE_REF + root.resolve().relative_to(cache_dir().resolve()).as_posix()}
    except ValueError:  # not under the cache
        return {}


def make_plan(
    recipe: Recipe, source: Source, limit: int | None = None, on_error: str = "fail"
) -> tuple[dict, Iterator[PlanRow], list[dict]]:
    """Resolve a recipe against a source: (header, rows in sample order, failures).

    With ``on_error="skip"`` a sample whose draws cannot be made is left out and listed in the failures
    (filled while the rows are consumed).
    """
    if hasattr(source, "bind_seed"):  # sources that draw (composites) draw from the recipe seed
        source.bind_seed(recipe.seed)
    failures: list[dict] = []
    samples = []
    for sample in source.samples():
        if "error" in sample.extra:  # a sample the source could not make (a composite without a placement)
            if on_error != "skip":
                raise SampleError(sample.sample_id, sample.extra["error"])
            failures.append({"sample_id": sample.sample_id, "stage": "plan", "error": sample.extra["error"]})
            continue
        samples.append(sample)
    if not samples:
        report = getattr(source, "report", None)
        left = ", ".join(f"{reason}: {n}" for reason, n in report.missing.items()) if report else ""
        raise InputError(f"{source.root}: the source holds no samples" + (f" (left out: {left})" if left else ""))
    plan = PlanContext(recipe.seed, samples)
    selected = samples if limit is None else samples[:limit]

    def rows() -> Iterator[PlanRow]:
        for index, sample in enumerate(selected):
            try:
                yield from sample_rows(recipe, sample, plan, index)
            except SampleError as exc:
                if on_error != "skip":
                    raise
                failures.append({"sample_id": exc.sample_id, "stage": "plan", "error": exc.reason})

    return plan_header(recipe, source, limit), rows(), failures
