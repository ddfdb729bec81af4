"""The ``negaudio`` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from negaudio.cli.progress import ProgressReporter
from negaudio.core.errors import InputError, NegaudioError
from negaudio.recipe.bundled import annotation_mismatch, recipe_names, resolve_recipe
from negaudio.sources import uses_demo_fallback

app = typer.Typer(
    help="Negative-audio test sets for visual sound source localization.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
schema_app = typer.Typer(help="Export JSON Schemas.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


class OnError(StrEnum):
    fail = "fail"
    skip = "skip"


class ExecutorKind(StrEnum):
    process = "process"
    dask = "dask"


def load_recipe(spec: str, seed: int | None = None):
    from negaudio.recipe.io import validate_data, validate_file
    from negaudio.recipe.models import Recipe

    path, _ = resolve_recipe(spec)
    recipe = validate_file(Recipe, path)
    if seed is not None:
        recipe = validate_data(Recipe, {**recipe.model_dump(mode="json"), "seed": seed}, path=path)
    return recipe


def fail(exc: NegaudioError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=exc.exit_code)


def _progress_callback(progress: ProgressReporter):
    """The builder's callback: ``(done, total)`` counts rendered items; ``(phase, done, total)`` names the phase."""

    def update(*args) -> None:
        if len(args) == 2:
            args = ("rendering", *args)
        progress.update(*args)

    return update


@app.command()
def build(
    recipe: Annotated[str, typer.Argument(help="Recipe file, or the name of a bundled recipe (e.g. is3plus).")] = "",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Build folder.")] = None,
    source: Annotated[Path | None, typer.Option(help="Dataset root; overrides the recipe's source root.")] = None,
    plan: Annotated[Path | None, typer.Option(help="Render this plan file instead of planning a recipe.")] = None,
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="Worker processes.")] = 1,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted build of the same plan.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace what an earlier build left in the folder.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first K samples (with all their items).")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed.")] = None,
    on_error: Annotated[
        OnError,
        typer.Option(help="fail: stop at the first bad sample; skip: list it in failures.jsonl and go on."),
    ] = OnError.fail,
    allow_missing: Annotated[
        bool, typer.Option(help="Build the items whose media are present; record the rest (a partial build).")
    ] = False,
    executor: Annotated[ExecutorKind, typer.Option(help="process (local pool) or dask.")] = ExecutorKind.process,
    dask_address: Annotated[str | None, typer.Option(help="Dask scheduler address (with --executor dask).")] = None,
    no_canonical: Annotated[
        bool, typer.Option(help="For a bundled recipe, plan it against --source instead of using its canonical plan.")
    ] = False,
) -> None:
    """Plan and render a negative-audio test set into a versioned build folder.

    A bundled recipe built with --source renders its canonical plan (manifests/) when one exists, so two labs
    get the same test set and only the media folders of the dataset are needed.
    """
    from negaudio.builder import BuildOptions, render_plan
    from negaudio.builder import build as run_build
    from negaudio.planning.planner import read_plan

    try:
        if bool(recipe) == bool(plan):
            raise InputError("give a RECIPE or --plan PLAN (one of them)")
        with ProgressReporter(err) as progress:
            options = BuildOptions(
                jobs=jobs,
                resume=resume,
                overwrite=overwrite,
                on_error=on_error.value,
                allow_missing=allow_missing,
                executor=executor.value,
                address=dask_address,
                progress=_progress_callback(progress),
            )
            if recipe and plan is None and source is not None and limit is None and not no_canonical:
                plan = _canonical(recipe, seed)
            if plan is not None:
                if source is None:
                    raise InputError("--plan needs --source DIR: the dataset root the plan's paths are relative to")
                if recipe == "" and (seed is not None or limit is not None):
                    raise InputError("--seed and --limit change a recipe's plan: a --plan file is rendered as it is")
                header, rows = read_plan(plan)
                if warning := annotation_mismatch(header, source):
                    err.print(f"warning: {warning}")
                out_dir = output or Path("builds") / header["recipe"]["name"] / header["recipe"]["version"]
                info = render_plan(header, rows, out_dir, source, options)
            else:
                loaded = load_recipe(recipe, seed)
                out_dir = output or Path("builds") / loaded.name / loaded.version
                if uses_demo_fallback(loaded.source, source):
                    err.print(f"note: no --source given: building {loaded.name} on the embedded demo source")
                info = run_build(loaded, out_dir, source_root=source, limit=limit, options=options)
    except KeyboardInterrupt:
        err.print("interrupted: finished shards are kept; run the same command with --resume to finish")
        raise typer.Exit(code=130) from None
    except NegaudioError as exc:
        raise fail(exc) from None
    from negaudio.manifest.core import summarize

    out.print(f"Build written to [bold]{out_dir}[/] ({info['items']} items, {info['failures']} failures)")
    _print_summary(out_dir, summarize(out_dir))
    out.print(f"content sha256 {info['content_sha256']}")
    if info["failures"]:
        err.print(f"{info['failures']} sample(s) failed: see {out_dir / 'failures.jsonl'}")


def _canonical(recipe: str, seed: int | None) -> Path | None:
    """The canonical plan of a bundled recipe (unchanged by --seed), announced on stderr; else None."""
    from negaudio.recipe.bundled import canonical_plan

    if not resolve_recipe(recipe)[1]:
        return None
    loaded = load_recipe(recipe, seed)
    plan = canonical_plan(loaded.name, loaded.version, loaded.sha256())
    if plan is not None:
        err.print(f"note: rendering the canonical plan {plan} (--no-canonical plans the recipe instead)")
    return plan


def _print_summary(root: Path, rows: list[dict]) -> None:
    table = Table(title=f"{root}")
    for column in ("name", "kind", "items", "mean s", "RMS dBFS median", "RMS min..max", "digital silence"):
        table.add_column(column, justify="left" if column in ("name", "kind") else "right")

    def db(v):
        return "-" if v is None else f"{v:.1f}"

    for r in rows:
        table.add_row(
            r["name"],
            r["kind"],
            str(r["items"]),
            f"{r['mean_duration_s']:.2f}",
            db(r["rms_dbfs_median"]),
            f"{db(r['rms_dbfs_min'])}..{db(r['rms_dbfs_max'])}",
            str(r["digital_silence"]),
        )
    out.print(table)


@app.command("plan")
def plan_cmd(
    recipe: Annotated[str, typer.Argument(help="Recipe file or bundled recipe name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Plan file to write (JSONL).")],
    source: Annotated[Path | None, typer.Option(help="Dataset root; overrides the recipe's.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first K samples.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed.")] = None,
    on_error: Annotated[OnError, typer.Option()] = OnError.fail,
) -> None:
    """Resolve every random choice of a recipe into plan rows, without rendering."""
    from negaudio.builder import plan_recipe
    from negaudio.planning.planner import write_plan

    try:
        header, rows, failures, _ = plan_recipe(load_recipe(recipe, seed), source, limit, on_error.value)
        digest = write_plan(output, header, rows)
    except NegaudioError as exc:
        raise fail(exc) from None
    out.print(f"plan written to {output} (sha256 {digest}); {len(failures)} sample(s) left out")


@app.command()
def validate(recipe: Annotated[str, typer.Argument(help="Recipe file or bundled recipe name.")]) -> None:
    """Check a recipe; print what it makes."""
    try:
        loaded = load_recipe(recipe)
    except NegaudioError as exc:
        raise fail(exc) from None
    names = ", ".join(["positive", *loaded.negative_names()])
    out.print(f"{recipe}: valid ({loaded.name} {loaded.version}, source {loaded.source.kind}, items: {names})")


@schema_app.command("recipe")
def schema_recipe() -> None:
    """JSON Schema of recipes (for editors)."""
    from negaudio.recipe.models import recipe_json_schema

    sys.stdout.write(json.dumps(recipe_json_schema(), indent=2) + "\n")


@schema_app.command("manifest")
def schema_manifest() -> None:
    """JSON Schema of one manifest row."""
    from negaudio.manifest.core import manifest_json_schema

    sys.stdout.write(json.dumps(manifest_json_schema(), indent=2) + "\n")


@app.command()
def inspect(build_dir: Annotated[Path, typer.Argument(help="Build folder.")]) -> None:
    """Summary of a build per item name: counts, durations, levels."""
    from negaudio.manifest.core import Build, summarize

    try:
        info = Build(build_dir).info
        rows = summarize(build_dir)
    except NegaudioError as exc:
        raise fail(exc) from None
    ds = info["dataset"]
    out.print(
        f"{ds['name']} {ds['version']}: {info['items']} items, schema {info['schema_version']}, "
        f"partial={info['partial']}, content sha256 {info['content_sha256'][:16]}"
    )
    _print_summary(build_dir, rows)


@app.command()
def verify(build_dir: Annotated[Path, typer.Argument(help="Build folder.")]) -> None:
    """Recompute every hash; exit 1 naming each missing or altered file."""
    from negaudio.manifest.core import verify as run_verify

    try:
        problems = run_verify(build_dir)
    except NegaudioError as exc:
        raise fail(exc) from None
    for problem in problems:
        err.print(problem, highlight=False)
    if problems:
        err.print(f"{build_dir}: {len(problems)} problem(s)")
        raise typer.Exit(code=1)
    out.print(f"{build_dir}: every file matches its hash")


@app.command("recipes")
def list_recipes() -> None:
    """List the bundled recipes."""
    for name in recipe_names():
        out.print(name)


from negaudio.cli.eval import register_eval  # noqa: E402

register_eval(app)


if __name__ == "__main__":
    app()
