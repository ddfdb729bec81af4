"""``negaudio build``: plan (or read a plan), check the output folder, render shards, merge the manifest."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.manifest.core import BUILD_INFO, FAILURES, MANIFEST, merge
from negaudio.planning.planner import make_plan, read_plan, write_plan
from negaudio.recipe.models import Recipe
from negaudio.rendering.execute import make_executor, run_bounded
from negaudio.rendering.render import SHARD_SAMPLES, RenderContext, render_shard, shard_of, shard_record_path, warm_up
from negaudio.sources import open_source

STATE = ".negaudio"
PLAN = "plan.jsonl"
OWNED = ("audio", "images", "masks", MANIFEST, MANIFEST + ".tmp", BUILD_INFO, FAILURES, PLAN, STATE)


@dataclass
class BuildOptions:
    jobs: int = 1
    resume: bool = False
    overwrite: bool = False
    on_error: str = "fail"
    allow_missing: bool = False
    executor: str = "process"
    address: str | None = None
    progress: Callable[[int, int], None] | None = field(default=None, repr=False)


def plan_recipe(recipe: Recipe, source_root: Path | None, limit: int | None, on_error: str):
    """Open the recipe's source (``source_root`` overrides its root) and resolve the plan.

    Returns (header, rows, failures, the source's root). The root stays out of the plan, which is portable.
    """
    source = open_source(recipe.source, source_root)
    header, rows, failures = make_plan(recipe, source, limit=limit, on_error=on_error)
    return header, rows, failures, Path(source.root)


def build(
    recipe: Recipe,
    out_dir: Path,
    source_root: Path | None = None,
    limit: int | None = None,
    options: BuildOptions | None = None,
) -> dict:
    """Plan and render ``recipe`` into ``out_dir``; return the ``build.json`` content."""
    options = options or BuildOptions()
    header, rows, plan_failures, root = plan_recipe(recipe, source_root, limit, options.on_error)
    return render_plan(header, rows, out_dir, root, options, plan_failures)


def render_plan(
    header: dict,
    rows: Iterator[dict],
    out_dir: Path,
    source_root: Path,
    options: BuildOptions,
    plan_failures: list[dict] | None = None,
) -> dict:
    """Render a resolved plan (from a recipe or a plan file) against the media under ``source_root``."""
    out_dir = Path(out_dir)
    source_root = Path(source_root).resolve()
    with make_executor(options.jobs, options.executor, options.address) as executor:
        if options.jobs > 1:  # workers start and import while the plan is written
            for _ in range(options.jobs):
                executor.submit(warm_up)
        failures = [] if plan_failures is None else plan_failures  # filled while the rows are consumed
        plan_sha, state = _prepare(header, rows, out_dir, source_root, options, failures)
        audio = header["recipe"]["audio"]
        ctx = RenderContext(
            source_root=str(source_root),
            out_dir=str(out_dir.resolve()),
            sample_rate=audio["sample_rate"],
            channels=audio["channels"],
            duration=audio["duration"],
            fmt=audio["format"],
            rle=header["recipe"]["masks"]["rle"],
            on_error=options.on_error,
            measure_lufs=audio.get("measure_lufs", False),
        )
        shard_ids = _render_shards(executor, ctx, out_dir, options)
    shard_files = [shard_record_path(out_dir, s) for s in shard_ids]
    return merge(out_dir, shard_files, header, state["plan_failures"], plan_sha, state["missing"])


def _prepare(header, rows, out_dir: Path, source_root: Path, options: BuildOptions, plan_failures: list[dict]):
    """Write the plan (media checked), claim the output folder, record the resume state: (plan sha, state)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    check = MediaCheck(source_root)
    with tempfile.NamedTemporaryFile("w", dir=out_dir.parent, prefix=".plan-", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        plan_sha = write_plan(tmp_path, header, check.filter(rows))
        check.raise_unless(options.allow_missing or options.on_error == "skip")
        _claim(out_dir, plan_sha, options)
        state = {
            "plan_sha256": plan_sha,
            "recipe_sha256": header["recipe_sha256"],
            "shard_samples": SHARD_SAMPLES,
            "plan_failures": [*plan_failures, *(check.failures if options.on_error == "skip" else [])],
            "missing": check.summary(),
        }
        _write_state(out_dir, state)  # before the plan: a kill in between leaves a folder --resume accepts
        tmp_path.replace(out_dir / PLAN)
    finally:
        tmp_path.unlink(missing_ok=True)
    return plan_sha, json.loads((out_dir / STATE / "state.json").read_text())


def _render_shards(executor, ctx: RenderContext, out_dir: Path, options: BuildOptions) -> list[int]:
    """Render every shard without a finished record, streaming the plan; return all shard ids in order."""
    with (out_dir / PLAN).open("rb") as fh:
        total = sum(1 for _ in fh) - 1
    done_items = 0
    shard_ids: list[int] = []

    def on_done(result: dict) -> None:
        nonlocal done_items
        done_items += result["rows"]
        if options.progress:
            options.progress(done_items, total)

    def tasks() -> Iterator[tuple]:
        _, plan_rows = read_plan(out_dir / PLAN)
        for shard, shard_rows in groupby(plan_rows, key=shard_of):
            shard_ids.append(shard)
            shard_rows = list(shard_rows)
            if shard_record_path(out_dir, shard).is_file():
                on_done({"rows": len(shard_rows)})
            else:
                yield ctx, shard, shard_rows

    run_bounded(executor, render_shard, tasks(), limit=2 * options.jobs, on_done=on_done)
    return shard_ids


def _claim(out_dir: Path, plan_sha: str, options: BuildOptions) -> None:
    """Check the output folder may take this build; clear what an earlier build left when asked to."""
    if options.resume and options.overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        out_dir.mkdir(parents=True, exist_ok=True)
        return
    state_file = out_dir / STATE / "state.json"
    previous = json.loads(state_file.read_text()) if state_file.is_file() else None
    if options.overwrite:
        for name in OWNED:
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        return
    if previous is None:
        raise InputError(
            f"{out_dir}: the folder is not empty and holds no negaudio build; "
            "choose an empty folder or pass --overwrite"
        )
    if previous["plan_sha256"] != plan_sha:
        raise InputError(
            f"{out_dir}: holds a build of a different recipe, seed or source "
            f"(plan {previous['plan_sha256'][:12]} != {plan_sha[:12]}); pass --overwrite to replace it"
        )
    if not options.resume:
        finished = "a finished" if (out_dir / BUILD_INFO).is_file() else "an unfinished"
        raise InputError(
            f"{out_dir}: holds {finished} build of this plan; pass --resume to finish or "
            "re-merge it, or --overwrite to start again"
        )


def _write_state(out_dir: Path, state: dict) -> None:
    path = out_dir / STATE / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():  # resuming: keep the plan failures of the first run
        return
    tmp = path.with_name("state.json.tmp")
    tmp.write_text(json.dumps(state, sort_keys=True))
    tmp.replace(path)


class MediaCheck:
    """Checks that the media a plan names exist under the source root, before anything is rendered.

    A sample whose image, audio or mask is missing loses all its items; a negative whose drawn clip is missing
    is dropped alone, never re-drawn, so partial builds of one plan agree on the items they share.
    """

    def __init__(self, root: Path):
        self.root = root
        self.missing: dict[str, str] = {}  # path -> first item that needed it
        self.dropped = {"samples": 0, "items": 0}
        self.failures: list[dict] = []
        self._exists: dict[str, bool] = {}

    def _present(self, rel: str) -> bool:
        if rel not in self._exists:
            self._exists[rel] = (self.root / rel).is_file()
        return self._exists[rel]

    def _absent(self, paths: list[str], item_id: str, sample_id: str) -> bool:
        gone = [p for p in paths if not self._present(p)]
        for p in gone:
            self.missing.setdefault(p, item_id)
        if gone:
            error = "missing source file(s): " + ", ".join(str(self.root / p) for p in gone)
            self.failures.append({"sample_id": sample_id, "item_id": item_id, "stage": "media", "error": error})
        return bool(gone)

    def filter(self, rows: Iterator[dict]) -> Iterator[dict]:
        for sample_id, group in groupby(rows, key=lambda r: r["sample_id"]):
            group = list(group)
            first = group[0]
            needed = [first["image"], first["audio"], *(r["mask"] for r in first["regions"] if r.get("mask"))]
            if self._absent(needed, sample_id, sample_id):
                self.dropped["samples"] += 1
                self.dropped["items"] += len(group)
                continue
            for row in group:
                clip = row["params"].get("clip_audio")
                in_source = row["params"].get("pool", "same") == "same" and row["kind"] != "recording"
                if clip and in_source and self._absent([clip], row["item_id"], sample_id):
                    self.dropped["items"] += 1
                    continue
                yield row

    def raise_unless(self, allow_missing: bool) -> None:
        if self.missing and not allow_missing:
            listed = "\n".join(f"  {self.root / p} (needed by {item})" for p, item in list(self.missing.items())[:20])
            more = len(self.missing) - 20
            raise InputError(
                f"{len(self.missing)} source file(s) missing under {self.root}:\n{listed}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\npass --allow-missing to build the items whose media are present (a partial build)"
            )

    def summary(self) -> dict:
        if not self.missing:
            return {}
        return {
            "files": len(self.missing),
            "samples_dropped": self.dropped["samples"],
            "items_dropped": self.dropped["items"],
            "paths": sorted(self.missing),
        }
