"""The library behind ``negaudio plan`` and ``negaudio build``: which plan a request means (a recipe, a bundled
recipe's canonical plan, a plan file, the demo), then checking the output folder, rendering and merging.

The command line is a thin shell over :func:`plan` and :func:`build`; both take the same arguments from Python.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path

from negaudio.core.cache import cache_dir, in_cache, resolve_media
from negaudio.core.errors import InputError, OutputError
from negaudio.core.files import FILE_MODE, TMP_SUFFIX, is_leftover, write_text
from negaudio.core.limits import is_count
from negaudio.core.lock import folder_lock
from negaudio.core.outputs import refuse_inside_build
from negaudio.manifest.writer import BUILD_INFO, CHECKSUMS, FAILURES, MANIFEST, PLAN, merge
from negaudio.planning.media import MediaCheck, dropped_lines
from negaudio.planning.planfile import plan_recipe, read_plan, write_plan
from negaudio.planning.planner import make_plan
from negaudio.planning.rows import PlanRow
from negaudio.recipe.bundled import annotation_mismatch, canonical_plan, resolve_recipe
from negaudio.recipe.models import Recipe
from negaudio.rendering.early import EarlyShards
from negaudio.rendering.execute import check_executor, make_executor, run_bounded
from negaudio.rendering.render import SHARD_SAMPLES, RenderContext, render_shard, shard_of, shard_record_path
from negaudio.sources import open_source, uses_demo_fallback

STATE = ".negaudio"
NEXT, OLD = "next", "old"  # an overwrite's staged build and the earlier build's entries during the swap
EARLY = "early"  # shards rendered while the plan is written (negaudio.rendering.early)
DASK = "dask"  # the files of the Dask LocalCluster a build starts (--executor dask without --dask-address)
OWNED_FILES = ("audio", "images", "masks", MANIFEST, BUILD_INFO, FAILURES, PLAN, CHECKSUMS)
OWNED = (*OWNED_FILES, STATE)
Progress = Callable[[str, int, int | None], None]
Note = Callable[[str], None]


@dataclass
class BuildOptions:
    """How to build: workers, what to do with the output folder and with bad samples, where to report."""

    jobs: int = 1
    resume: bool = False
    overwrite: bool = False
    on_error: str = "fail"
    allow_missing: bool = False
    executor: str = "process"
    address: str | None = None
    progress: Progress | None = field(default=None, repr=False)
    note: Note | None = field(default=None, repr=False)

    def say(self, text: str) -> None:
        if self.note:
            self.note(text)


@dataclass
class Resolved:
    """A plan ready to render or write: its header, lazy rows, plan-stage failures and where it came from."""

    header: dict
    rows: Iterator[PlanRow]
    failures: list[dict]
    source_root: Path | None
    canonical: Path | None = None


def load_recipe(spec: str | Path | Recipe, seed: int | None = None) -> tuple[Recipe, bool]:
    """A recipe from a file, a bundled name or a :class:`Recipe`, with ``seed`` overriding its seed.
    Returns (recipe, whether it is a bundled one)."""
    from negaudio.recipe.io import RecipeError, validate_data, validate_file

    if isinstance(spec, Recipe):
        recipe, bundled, path = spec, False, None
    else:
        path, bundled = resolve_recipe(str(spec))
        recipe = validate_file(Recipe, path)
    if seed is not None:
        try:
            recipe = validate_data(Recipe, {**recipe.model_dump(mode="json"), "seed": seed})
        except RecipeError as exc:  # the seed is the only change: the option is what is wrong
            raise InputError("\n".join(replace(p, loc=()).format("--seed") for p in exc.problems)) from None
    return recipe, bundled


def resolve(
    recipe: str | Path | Recipe | None = None,
    *,
    plan_file: Path | None = None,
    source: Path | None = None,
    limit: int | None = None,
    seed: int | None = None,
    on_error: str = "fail",
    canonical: bool = True,
    note: Note | None = None,
) -> Resolved:
    """Which plan a request means, the one rule for ``plan`` and ``build``:

    - a plan file is taken as it is (``seed`` and ``limit`` cannot change it);
    - a bundled recipe with a committed canonical plan for exactly this recipe uses that plan, unless
      ``limit`` is given or ``canonical`` is false (``--no-canonical``);
    - a bundled IS3-shaped recipe with no dataset root plans on the embedded bank (a recipe file of yours
      with no root is an error: your data is never silently replaced by the demo);
    - anything else is planned against ``source`` (or the recipe's own root).
    """
    say = note or (lambda _: None)
    if (recipe is None) == (plan_file is None):
        raise InputError("give a RECIPE or --plan PLAN" + (", not both" if recipe is not None else ""))
    if limit is not None and not is_count(limit, 1):
        raise InputError(f"--limit must be >= 1, got {limit!r}")
    if source is not None and not Path(source).is_dir():
        raise InputError(f"{source}: source folder not found")
    if plan_file is not None:
        if seed is not None or limit is not None:
            raise InputError("--seed and --limit change a recipe's plan: a --plan file is rendered as it is")
        return _from_plan_file(Path(plan_file), source, say, canonical=None)
    loaded, bundled = load_recipe(recipe, seed)
    demo = bundled and uses_demo_fallback(loaded.source, source)
    if demo:
        say(f"no --source given: {loaded.name} is planned on composites from the embedded bank")
    elif bundled and canonical and limit is None:
        path = canonical_plan(loaded.name, loaded.version, loaded.sha256())
        if path is not None:
            say(f"using the canonical plan {loaded.name} {loaded.version} (--no-canonical plans the recipe instead)")
            return _from_plan_file(path, source or loaded.source.root, say, canonical=path)
    opened = open_source(loaded.source, source, demo=demo)
    header, rows, failures = make_plan(loaded, opened, limit=limit, on_error=on_error)
    return Resolved(header, rows, failures, Path(opened.root))


def _from_plan_file(path: Path, source: Path | None, say: Note, canonical: Path | None) -> Resolved:
    header, rows = read_plan(path)
    cached = header["source"].get("cache_root")
    if source is None and isinstance(cached, str):
        source = resolve_media(Path("."), cached, "cache_root")
        if not source.is_dir():
            raise InputError(
                f"{path}: the plan was made from a source in the negaudio cache ({cached}), which this machine does "
                "not have: plan the recipe here first (negaudio plan/build), or give --source DIR"
            )
    if source is not None and (warning := annotation_mismatch(header, Path(source))):
        say(warning)
    return Resolved(header, rows, [], None if source is None else Path(source), canonical)


@dataclass
class PlanResult:
    """What ``plan`` wrote: the file, its sha256, its rows, and what was left out (with reasons)."""

    path: Path
    sha256: str
    items: int
    failures: list[dict]
    source_left_out: dict
    canonical: Path | None


PLAN_SUFFIXES = (".jsonl", ".jsonl.gz")


def check_plan_output(output: Path) -> None:
    """A plan is written only to a .jsonl or .jsonl.gz path outside every build, replacing at most an earlier
    plan: never a folder, a build's file, or any other file."""
    if not output.name.endswith(PLAN_SUFFIXES):
        raise InputError(f"{output}: a plan file is named .jsonl or .jsonl.gz")
    if output.is_dir():
        raise InputError(f"{output}: is a folder; give a plan file name (.jsonl or .jsonl.gz)")
    refuse_inside_build(output, "plan")
    if output.exists():
        try:
            _, rows = read_plan(output)
        except InputError:  # not a plan: left as it is
            raise InputError(
                f"-o {output}: holds a file that is not a negaudio plan; it is not replaced: give a new file name"
            ) from None
        rows.close()


def plan(
    recipe: str | Path | Recipe,
    output: Path,
    *,
    source: Path | None = None,
    limit: int | None = None,
    seed: int | None = None,
    on_error: str = "fail",
    canonical: bool = True,
    note: Note | None = None,
) -> PlanResult:
    """Resolve a recipe into a plan file, without rendering: the plan ``build`` would render, row for row."""
    check_plan_output(Path(output))
    resolved = resolve(recipe, source=source, limit=limit, seed=seed, on_error=on_error, canonical=canonical, note=note)
    counted = _Counted(resolved.rows)
    digest = write_plan(Path(output), resolved.header, counted)
    left_out = resolved.header["source"].get("report", {}).get("missing", {})
    return PlanResult(Path(output), digest, counted.n, resolved.failures, left_out, resolved.canonical)


class _Counted:
    """Counts the rows an iterator yields."""

    def __init__(self, rows, on_row: Callable[[int], None] | None = None):
        self.rows, self.n, self.on_row = rows, 0, on_row

    def __iter__(self):
        for row in self.rows:
            self.n += 1
            if self.on_row:
                self.on_row(self.n)
            yield row


def build(
    recipe: str | Path | Recipe | None = None,
    output: Path | None = None,
    *,
    plan_file: Path | None = None,
    source: Path | None = None,
    limit: int | None = None,
    seed: int | None = None,
    canonical: bool = True,
    options: BuildOptions | None = None,
) -> dict:
    """Plan (or take a plan) and render it into ``output``; return the ``build.json`` content.

    ``output`` defaults to ``builds/<name>/<version>``. Re-running a finished build is a no-op that verifies it;
    an unfinished build of the same plan is finished; another build in the folder is refused unless
    ``options.overwrite``.
    """
    options = options or BuildOptions()
    check_executor(options.jobs, options.executor, options.address)  # before planning: a wrong option costs nothing
    resolved = resolve(
        recipe,
        plan_file=plan_file,
        source=source,
        limit=limit,
        seed=seed,
        on_error=options.on_error,
        canonical=canonical,
        note=options.note,
    )
    if resolved.source_root is None:
        raise InputError(
            "the plan's media are read from your copy of the dataset: give --source DIR (the dataset root the "
            "plan's paths are relative to)"
        )
    recipe_info = resolved.header["recipe"]
    out_dir = Path(output) if output is not None else Path("builds") / recipe_info["name"] / recipe_info["version"]
    return render_plan(resolved, out_dir, options)


def render_plan(resolved: Resolved, out_dir: Path, options: BuildOptions) -> dict:
    """Render a resolved plan against the media under its source root, holding the folder's lock.

    With ``overwrite``, the new build is made beside the old one (``.negaudio/next``) and swapped in only when it
    is complete, so a failure (a full disk) leaves the earlier build as it was.
    """
    out_dir = Path(out_dir)
    source_root = Path(resolved.source_root).resolve()
    _precheck(out_dir, source_root, options)
    created = _first_missing(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(out_dir, STATE):
            _refuse_links(out_dir)
            _finish_swap(out_dir)
            if options.overwrite and (out_dir / STATE / "state.json").is_file():
                staging = out_dir / STATE / NEXT
                staging.mkdir(exist_ok=True)
                _refuse_links(staging)
                info = _build_into(resolved, staging, source_root, options, staged=True)
                _finish_swap(out_dir)
                return info
            return _build_into(resolved, out_dir, source_root, options, staged=False)
    except OSError as exc:
        raise OutputError(
            f"{exc.filename or out_dir}: {exc.strerror or exc}; what was finished is kept: run the same command "
            "again to finish"
        ) from None
    finally:
        if created is not None and not (out_dir / STATE / "state.json").is_file():
            shutil.rmtree(created, ignore_errors=True)  # the folders this run created, and nothing else


def _build_into(resolved: Resolved, out_dir: Path, source_root: Path, options: BuildOptions, staged: bool) -> dict:
    """Plan, claim, render and merge into ``out_dir`` (the build folder, or the staging folder of an overwrite)."""
    _remove_leftovers(out_dir)
    scratch, cluster_files = out_dir / STATE / EARLY, out_dir / STATE / DASK
    for folder in (scratch, cluster_files):  # an interrupted run's: never part of a build
        shutil.rmtree(folder, ignore_errors=True)
    ctx = _render_context(resolved, out_dir, source_root, options)
    try:
        with make_executor(options.jobs, options.executor, options.address, cluster_files) as executor:
            early = None  # workers start while the plan is written, then render its first shards
            fresh = not (out_dir / STATE / "state.json").is_file()  # nothing to claim or resume
            if options.jobs > 1 and fresh:
                early = EarlyShards(executor, ctx, scratch, limit=2 * options.jobs)
            try:
                prepared = _prepare(resolved, out_dir, source_root, options, staged, early)
            except Exception:
                if early is not None:
                    early.discard()
                raise
            if prepared.finished is not None:
                return prepared.finished
            shard_ids = _render_shards(executor, ctx, out_dir, options, early)
    finally:
        shutil.rmtree(cluster_files, ignore_errors=True)
    state = prepared.state
    shard_files = [shard_record_path(out_dir, s) for s in shard_ids]
    info = merge(out_dir, shard_files, resolved.header, state["plan_failures"], state["plan_sha256"], state["missing"])
    for line in dropped_lines(info["missing"], canonical=resolved.canonical is not None):
        options.say(line)
    return info


def _render_context(resolved: Resolved, out_dir: Path, source_root: Path, options: BuildOptions) -> RenderContext:
    audio = resolved.header["recipe"]["audio"]
    return RenderContext(
        source_root=str(source_root),
        out_dir=str(out_dir.resolve()),
        sample_rate=audio["sample_rate"],
        channels=audio["channels"],
        duration=audio["duration"],
        fmt=audio["format"],
        rle=resolved.header["recipe"]["masks"]["rle"],
        on_error=options.on_error,
        measure_lufs=audio.get("measure_lufs", False),
    )


def _precheck(out_dir: Path, source_root: Path, options: BuildOptions) -> None:
    """Refusals that need no plan: contradictory flags, a file in the way, a folder that is not a build."""
    if options.resume and options.overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    target = out_dir.resolve()
    if target == source_root or target in source_root.parents:
        raise InputError(f"{out_dir}: is the source folder or holds it; choose an output folder outside {source_root}")
    if in_cache(out_dir):
        raise InputError(
            f"{out_dir}: is inside the negaudio cache {cache_dir()}, which negaudio manages; build elsewhere"
        )
    refuse_inside_build(out_dir.parent, "build", shown=out_dir)
    if out_dir.is_dir() and any(p.name != STATE for p in out_dir.iterdir()) and not _holds_build(out_dir):
        raise InputError(
            f"{out_dir}: the folder is not empty and holds no negaudio build; choose an empty or new folder"
        )


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None: it exists)."""
    path = Path(os.path.abspath(path))
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def _holds_build(out_dir: Path) -> bool:
    return (out_dir / STATE / "state.json").is_file()


def _refuse_links(out_dir: Path) -> None:
    """A build's own sub-folders are never symbolic links (files would land outside the build folder)."""
    for name in (*OWNED, f"{STATE}/shards", f"{STATE}/{NEXT}", f"{STATE}/{EARLY}", f"{STATE}/{DASK}"):
        if (out_dir / name).is_symlink():
            raise InputError(f"{out_dir / name}: is a symbolic link; a build folder's own entries must not be")


def _remove_leftovers(out_dir: Path) -> None:
    """Temporaries of an interrupted run (unique names, never read): removed before going on."""
    for folder in (out_dir, out_dir / STATE, out_dir / STATE / "shards"):
        if folder.is_dir():
            for path in folder.iterdir():
                if is_leftover(path) and path.is_file():
                    path.unlink()
    for name in ("audio", "images", "masks"):
        for shard in sorted((out_dir / name).glob("[0-9]*")) if (out_dir / name).is_dir() else ():
            for path in shard.iterdir() if shard.is_dir() and not shard.is_symlink() else ():
                if is_leftover(path):
                    path.unlink()


def _finish_swap(out_dir: Path) -> None:
    """Move a complete staged build (``.negaudio/next``) into place, the earlier build's entries aside first;
    idempotent, so a swap cut short by a kill is finished by the next run."""
    staging, old = out_dir / STATE / NEXT, out_dir / STATE / OLD
    if (staging / BUILD_INFO).is_file():
        old.mkdir(exist_ok=True)
        for name in (*OWNED_FILES, "state.json", "shards"):
            src = staging / (f"{STATE}/{name}" if name in ("state.json", "shards") else name)
            dst = out_dir / (f"{STATE}/{name}" if name in ("state.json", "shards") else name)
            if not src.exists():
                continue
            if dst.exists() or dst.is_symlink():
                dst.rename(old / name.replace("/", "_"))
            src.rename(dst)
        shutil.rmtree(staging)
    if old.exists():
        shutil.rmtree(old)


@dataclass
class _Prepared:
    state: dict
    finished: dict | None = None


def _prepare(
    resolved: Resolved,
    out_dir: Path,
    source_root: Path,
    options: BuildOptions,
    staged: bool,
    early: EarlyShards | None = None,
) -> _Prepared:
    """Write the plan (media checked; its first shards handed to ``early``), claim the folder, record the resume
    state."""
    check = MediaCheck(source_root, plan_recipe(resolved.header).folders())
    (out_dir / STATE).mkdir(exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".plan.", suffix=TMP_SUFFIX, dir=out_dir / STATE)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    tmp_path = Path(name)
    try:
        progress = options.progress
        checked = check.filter(resolved.rows)
        rows = _Counted(
            checked if early is None else early.rows(checked),
            (lambda n: progress("planning", n, None)) if progress else None,
        )
        plan_sha = write_plan(tmp_path, resolved.header, rows)
        check.raise_unless(options.allow_missing or options.on_error == "skip")
        skip_absent = options.on_error == "skip" and not options.allow_missing
        if rows.n == 0:
            raise InputError(_empty_build_message(check, resolved))
        finished = _claim(out_dir, plan_sha, options, staged)
        if finished is not None:
            return _Prepared({}, finished)
        state = {
            "plan_sha256": plan_sha,
            "recipe_sha256": resolved.header["recipe_sha256"],
            "shard_samples": SHARD_SAMPLES,
            # absent media are failures under --on-error skip alone; with --allow-missing they are expected
            "plan_failures": [*resolved.failures, *(check.failures if skip_absent else [])],
            "missing": check.summary(),
        }
        _write_state(out_dir, state)  # before the plan: a kill in between leaves a folder a rerun accepts
        tmp_path.replace(out_dir / PLAN)
    finally:
        tmp_path.unlink(missing_ok=True)
    return _Prepared(json.loads((out_dir / STATE / "state.json").read_text()))


def _empty_build_message(check: MediaCheck, resolved: Resolved) -> str:
    if check.missing:
        lines = "\n  ".join(dropped_lines(check.summary(), canonical=resolved.canonical is not None))
        first = [str(path) for path in check.first_missing(3)]
        expected = "\n  ".join(["e.g. these files are not there:", *first])
        return f"the build would contain 0 items: no sample has its media under {check.root}\n  {lines}\n  {expected}"
    return "the build would contain 0 items: every sample was left out (see the errors above)"


def _render_shards(
    executor, ctx: RenderContext, out_dir: Path, options: BuildOptions, early: EarlyShards | None = None
) -> list[int]:
    """Render every shard without a finished record, streaming the plan, and move the ``early`` ones in as they
    finish; return all shard ids in order."""
    with (out_dir / PLAN).open("rb") as fh:
        total = sum(1 for _ in fh) - 1
    done_items = 0
    shard_ids: list[int] = []
    started = early.futures if early is not None else {}

    def on_done(result: dict) -> None:
        nonlocal done_items
        if result.get("shard") in started:
            early.move(result["shard"], out_dir)
        done_items += result["rows"]
        if options.progress:
            options.progress("rendering", done_items, total)

    def tasks() -> Iterator[tuple]:
        _, plan_rows = read_plan(out_dir / PLAN)
        for shard, shard_rows in groupby(plan_rows, key=shard_of):
            shard_ids.append(shard)
            shard_rows = list(shard_rows)
            if shard in started:
                continue
            if shard_record_path(out_dir, shard).is_file():
                on_done({"rows": len(shard_rows)})
            else:
                yield ctx, shard, shard_rows

    try:
        run_bounded(executor, render_shard, tasks(), 2 * options.jobs, on_done, started, rank=lambda task: task[1])
    finally:
        if early is not None:
            early.finish(out_dir)
    return shard_ids


def _claim(out_dir: Path, plan_sha: str, options: BuildOptions, staged: bool) -> dict | None:
    """Check the folder may take this build. Returns the finished build's info when the folder already holds
    exactly this build (verified). A staging folder holding another plan is simply cleared: it is ours."""
    state_file = out_dir / STATE / "state.json"
    if not state_file.is_file():
        return None
    previous = json.loads(state_file.read_text())
    if previous.get("plan_sha256") != plan_sha:
        if staged:
            _clear(out_dir)
            return None
        raise InputError(
            f"{out_dir}: holds a build of another plan (a different recipe, seed, source or --limit) "
            f"(plan {str(previous.get('plan_sha256'))[:12]} != {plan_sha[:12]}); choose another folder or pass "
            "--overwrite to replace it"
        )
    if (out_dir / BUILD_INFO).is_file() and not staged:
        from negaudio.manifest.verify import verify

        problems = verify(out_dir)
        if problems:
            listed = "\n  ".join(map(str, problems[:20]))
            files = len({p.path for p in problems})
            raise InputError(
                f"{out_dir}: holds this build, but {files} file(s) do not match their hashes:\n  {listed}\n"
                "pass --overwrite to rebuild it"
            )
        options.say(f"already built: {out_dir} holds this build (plan {plan_sha[:12]}); every file verified")
        return json.loads((out_dir / BUILD_INFO).read_text())
    if not staged:
        options.say(f"finishing the unfinished build of this plan in {out_dir}")
    return None


def _clear(out_dir: Path) -> None:
    """Remove what a negaudio build wrote in a staging folder (and only that); its state last, so a folder
    cleared halfway still names the plan its remaining files belong to."""
    for name in (*OWNED_FILES, f"{STATE}/shards", f"{STATE}/state.json"):
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _write_state(out_dir: Path, state: dict) -> None:
    path = out_dir / STATE / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():  # resuming: keep the plan failures of the first run
        return
    write_text(path, json.dumps(state, sort_keys=True), fsync=True)
