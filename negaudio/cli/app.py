"""The ``negaudio`` command line: argument parsing and printing over the library (:mod:`negaudio.builder`)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from negaudio import __version__
from negaudio.cli.common import err, fail, interruptible, note, os_failure, out
from negaudio.cli.compare import compare_command
from negaudio.cli.eval import eval_command
from negaudio.cli.models import models_command
from negaudio.cli.progress import ProgressReporter
from negaudio.core.errors import NegaudioError

app = typer.Typer(
    help="Negative-audio test sets for visual sound source localization.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # plain help and usage errors: flags without a type, text wrapped to the terminal
)
schema_app = typer.Typer(help="Export JSON Schemas.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(schema_app, name="schema")


class OnError(StrEnum):
    fail = "fail"
    skip = "skip"


class ExecutorKind(StrEnum):
    process = "process"
    dask = "dask"


def _version(value: bool) -> None:
    if value:
        out.print(f"negaudio {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Negative-audio test sets for visual sound source localization."""


@app.command()
def build(
    recipe: Annotated[
        str,
        typer.Argument(
            metavar="RECIPE", help="Recipe file, or a bundled recipe: NAME (latest version) or NAME@VERSION."
        ),
    ] = "",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Build folder.")] = None,
    source: Annotated[Path | None, typer.Option(help="Dataset root; overrides the recipe's source root.")] = None,
    plan: Annotated[Path | None, typer.Option(help="Render this plan file instead of planning a recipe.")] = None,
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="Worker processes.")] = 1,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Finish an interrupted build (also done when the folder holds one of this plan)."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier negaudio build in the folder.")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first K samples (with all their items).")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed.")] = None,
    on_error: Annotated[
        OnError,
        typer.Option(help="fail: stop at the first bad sample; skip: list it in failures.jsonl and go on."),
    ] = OnError.fail,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Build the items whose media are present; record the rest (a partial build)."
        ),
    ] = False,
    executor: Annotated[ExecutorKind, typer.Option(help="process (local pool) or dask.")] = ExecutorKind.process,
    dask_address: Annotated[str | None, typer.Option(help="Dask scheduler address (with --executor dask).")] = None,
    no_canonical: Annotated[
        bool,
        typer.Option(
            "--no-canonical", help="For a bundled recipe, plan it against --source instead of using its canonical plan."
        ),
    ] = False,
) -> None:
    """Plan and render a negative-audio test set into a versioned build folder.

    A bundled recipe built with --source renders its canonical plan (manifests/) when one exists, so two labs
    get the same test set and only the media folders of the dataset are needed.
    """
    from negaudio.builder import BuildOptions
    from negaudio.builder import build as run_build
    from negaudio.core.errors import SampleError

    try:
        with (
            interruptible("finished shards are kept; run the same command again to finish"),
            ProgressReporter(err) as progress,
        ):
            options = BuildOptions(
                jobs=jobs,
                resume=resume,
                overwrite=overwrite,
                on_error=on_error.value,
                allow_missing=allow_missing,
                executor=executor.value,
                address=dask_address,
                progress=progress.update,
                note=progress.note,
            )
            info = run_build(
                recipe or None,
                output,
                plan_file=plan,
                source=source,
                limit=limit,
                seed=seed,
                canonical=not no_canonical,
                options=options,
            )
    except SampleError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        err.print(
            "rerun with --on-error skip to leave it out and build the others (any shard already rendered is kept)"
        )
        raise typer.Exit(code=exc.exit_code) from None
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    from negaudio.manifest.summary import summarize

    out_dir = output or Path("builds") / info["dataset"]["name"] / info["dataset"]["version"]
    out.print(f"Build ready in [bold]{escape(str(out_dir))}[/] ({info['items']} items, {info['failures']} failures)")
    _print_summary(out_dir, summarize(out_dir))
    out.print(f"content sha256 {info['content_sha256']}")
    if info["failures"]:
        failures = escape(str(out_dir / "failures.jsonl"))
        err.print(f"{info['failures']} sample(s) or item(s) left out for errors: see {failures}")
    if info["partial"]:
        err.print(f"a partial build: build.json ('missing') and failures.jsonl in {escape(str(out_dir))} say what")
    if line := _left_out(info["source"].get("report", {}).get("missing", {})):
        err.print(line)


def _left_out(counts: dict) -> str:
    """'N annotation(s) left out by the source (reason: n, ...)', or '' when the source left none out."""
    if not (left := sum(counts.values())):
        return ""
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
    return f"{left} annotation(s) left out by the source ({escape(reasons)})"


def _print_summary(root: Path, rows: list[dict]) -> None:
    from negaudio.manifest.summary import no_ground_truth_note

    table = Table(title=escape(str(root)))
    for column in ("name", "kind", "items", "mean s", "RMS dBFS median", "RMS min..max", "digital silence"):
        table.add_column(column, justify="left" if column in ("name", "kind") else "right")

    def db(v):
        return "-" if v is None else f"{v:.1f}"

    for r in rows:
        table.add_row(
            escape(r["name"]),
            escape(r["kind"]),
            str(r["items"]),
            f"{r['mean_duration_s']:.2f}",
            db(r["rms_dbfs_median"]),
            f"{db(r['rms_dbfs_min'])}..{db(r['rms_dbfs_max'])}",
            str(r["digital_silence"]),
        )
    out.print(table)
    positives = [r for r in rows if r["kind"] == "positive"]
    if text := no_ground_truth_note(sum(r["with_gt"] for r in positives), sum(r["items"] for r in positives)):
        note(text)
    for r in rows:
        if "group_changed" in r:
            out.print(
                f"{escape(r['name'])}: exclusion groups {escape(str(r['exclude_groups']))} changed "
                f"{r['group_changed']} of {r['items']} draws (a clip whose class shares a group with one in the "
                "image is drawn again)",
                highlight=False,
            )


@app.command("plan")
def plan_cmd(
    recipe: Annotated[
        str, typer.Argument(metavar="RECIPE", help="Recipe file, or a bundled recipe: NAME or NAME@VERSION.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Plan file to write (.jsonl or .jsonl.gz).")],
    source: Annotated[Path | None, typer.Option(help="Dataset root; overrides the recipe's.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first K samples.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed.")] = None,
    on_error: Annotated[
        OnError,
        typer.Option(help="fail: stop at the first bad sample; skip: leave it out of the plan, name it, and go on."),
    ] = OnError.fail,
    no_canonical: Annotated[
        bool,
        typer.Option("--no-canonical", help="For a bundled recipe, plan it instead of emitting its canonical plan."),
    ] = False,
) -> None:
    """Resolve every random choice of a recipe into plan rows, without rendering (the plan build renders)."""
    from negaudio.builder import plan as run_plan

    try:
        result = run_plan(
            recipe,
            output,
            source=source,
            limit=limit,
            seed=seed,
            on_error=on_error.value,
            canonical=not no_canonical,
            note=note,
        )
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    out.print(f"plan written to {escape(str(output))}: {result.items} items (sha256 {result.sha256})")
    if line := _left_out(result.source_left_out):
        out.print(line)
    if result.failures:
        out.print(f"{len(result.failures)} sample(s) left out while planning (--on-error skip):")
        for failure in result.failures[:20]:
            out.print(f"  {escape(failure['sample_id'])}: {escape(failure['error'])}")


app.command("eval")(eval_command)
app.command("compare")(compare_command)
app.command("models")(models_command)


@app.command()
def validate(
    recipe: Annotated[str, typer.Argument(metavar="RECIPE", help="Recipe file or bundled recipe name.")],
) -> None:
    """Check a recipe; print every item it makes per sample."""
    from negaudio.builder import load_recipe

    try:
        loaded, _ = load_recipe(recipe)
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    names = ", ".join(loaded.item_names())
    out.print(
        f"{escape(recipe)}: valid ({loaded.name} {loaded.version}, source {loaded.source.kind}, "
        f"items per sample: {escape(names)})"
    )


@schema_app.command("recipe")
def schema_recipe() -> None:
    """JSON Schema of recipes (for editors)."""
    from negaudio.recipe.models import recipe_json_schema

    sys.stdout.write(json.dumps(recipe_json_schema(), indent=2) + "\n")


@schema_app.command("manifest")
def schema_manifest() -> None:
    """JSON Schema of one manifest row."""
    from negaudio.manifest import manifest_json_schema

    sys.stdout.write(json.dumps(manifest_json_schema(), indent=2) + "\n")


@app.command()
def inspect(
    build_dir: Annotated[Path, typer.Argument(metavar="BUILD", help="Build folder.")],
    gallery: Annotated[
        Path | None,
        typer.Option(
            "--gallery",
            help="Also draw a contact sheet (.png, .jpg, .webp, .tif or .pdf, by the suffix): each image with its "
            "objects' visible masks. An existing file is replaced only when it is a contact sheet this command "
            "marked as its own.",
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=1000, help="Images on the contact sheet.")] = 24,
) -> None:
    """Summary of a build per item name: counts, durations, levels; with --gallery, a picture of its images."""
    from negaudio.manifest import Build
    from negaudio.manifest.summary import summarize

    try:
        info = Build(build_dir).info
        rows = summarize(build_dir)
        if gallery is not None:
            from negaudio.core.outputs import refuse_inside_build
            from negaudio.manifest.gallery import gallery as draw_gallery

            refuse_inside_build(gallery, "contact sheet")

            shown, images = draw_gallery(build_dir, gallery, count=count)
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    ds = info["dataset"]
    out.print(
        f"{escape(str(ds['name']))} {escape(str(ds['version']))}: {info['items']} items, "
        f"schema {info['schema_version']}, {'partial' if info['partial'] else 'complete'}, "
        f"content sha256 {info['content_sha256'][:16]}"
    )
    _print_summary(build_dir, rows)
    if gallery is not None:
        of = f"the first {shown} of {images} images (--count sets how many)" if shown < images else f"{shown} image(s)"
        out.print(f"contact sheet of {of} written to {escape(str(gallery))}")


@app.command()
def verify(
    build_dir: Annotated[Path, typer.Argument(metavar="BUILD", help="Build folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON on stdout.")] = False,
) -> None:
    """Check every file, hash and count of a build; exit 1 naming each missing, altered or extra file."""
    from negaudio.manifest.verify import verify as run_verify

    try:
        problems = run_verify(build_dir)
    except NegaudioError as exc:
        if as_json:
            sys.stdout.write(json.dumps({"build": str(build_dir), "ok": False, "error": str(exc)}) + "\n")
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    if as_json:
        sys.stdout.write(
            json.dumps({"build": str(build_dir), "ok": not problems, "problems": [p.to_json() for p in problems]})
            + "\n"
        )
    else:
        for problem in problems:
            err.print(escape(str(problem)))
        if problems:
            err.print(f"{escape(str(build_dir))}: {len(problems)} problem(s)")
        else:
            out.print(f"{escape(str(build_dir))}: every file matches its hash")
    if problems:
        raise typer.Exit(code=1)


@app.command("recipes")
def list_recipes() -> None:
    """List the bundled recipes with their versions, oldest first; NAME alone selects the last, NAME@VERSION any."""
    from negaudio.recipe.bundled import bundled_versions, recipe_names

    for name in recipe_names():
        out.print(f"{name}  {' '.join(bundled_versions(name))}", highlight=False)


@app.command("export")
def export_cmd(
    build_dir: Annotated[
        Path, typer.Argument(metavar="BUILD", help="Build folder (verified first; a damaged build is refused).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write (new, empty, or an earlier export).")],
    license: Annotated[
        str, typer.Option(help="Licence identifier for the dataset card (Hub licence field).")
    ] = "other",
    max_shard_mb: Annotated[int, typer.Option(min=1, help="Largest Parquet shard, in MiB of media.")] = 500,
) -> None:
    """Write a build as a Hugging Face Hub dataset: Parquet shards under data/ and a README.md dataset card.

    `datasets.load_dataset(OUTPUT)` reads it (audio as Audio, image and mask as Image); see docs/hub.md.
    """
    from negaudio.export import export

    try:
        result = export(build_dir, output, max_shard_bytes=max_shard_mb * 2**20, license=license)
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    out.print(
        f"export written to [bold]{escape(str(output))}[/]: {result.rows} rows in {len(result.shards)} shard(s), "
        f"{len(result.configs)} config(s) + all; content sha256 {result.content_sha256}"
    )


@app.command("publish")
def publish_cmd(
    build_dir: Annotated[Path, typer.Argument(metavar="BUILD", help="Build folder (verified and exported first).")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hub dataset repo, ORG/NAME (created if needed).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    revision: Annotated[str | None, typer.Option(help="Branch to upload to (created if needed; default main).")] = None,
    tag: Annotated[str | None, typer.Option(help="Tag of the upload (default v<dataset version>).")] = None,
    license: Annotated[str, typer.Option(help="Licence identifier for the dataset card.")] = "other",
) -> None:
    """Export a build and upload it to a Hugging Face Hub dataset repo, tagged with its version.

    Token: huggingface_hub's standard locations (the HF_TOKEN variable, or the file `hf auth login` writes);
    negaudio never prints or stores it. Tags: the upload is tagged v<version> (or --tag) so users can pin
    `load_dataset(REPO, revision=TAG)`; an existing tag is never moved: the same content is a no-op, different
    content is refused (exit 2). Needs `pip install 'negaudio[hf]'`.
    """
    from negaudio.export.publish import publish

    try:
        result = publish(build_dir, repo_id, private=private, revision=revision, tag=tag, license=license)
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    if result.uploaded:
        out.print(f"published {escape(result.repo_id)} at tag {escape(result.tag)} (commit {result.commit})")
    else:
        out.print(f"{escape(result.repo_id)}: tag {escape(result.tag)} already holds this build; nothing uploaded")
