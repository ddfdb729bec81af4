"""Score a predictions file on a build: check, calibrate, stream samples, aggregate, write the report folder."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice, pairwise
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from negaudio import __version__
from negaudio.core.allocator import keep_freed_memory
from negaudio.core.errors import InputError
from negaudio.core.limits import is_count
from negaudio.core.outputs import refuse_inside_build
from negaudio.eval.benchmark_metrics import BenchmarkMetrics
from negaudio.eval.bootstrap import check_resamples
from negaudio.eval.calibration import (
    build_identity,
    calibrate,
    calibration_record,
    load_calibration,
    save_calibration,
    split_name,
)
from negaudio.eval.headline import headline, headline_threshold
from negaudio.eval.metrics import (
    MISMATCHED,
    NEGATIVE,
    NOISY_POSITIVE,
    POSITIVE,
    NegativeAudioEvaluator,
    Threshold,
    UniversalThresholds,
    adaptive,
    fixed,
    is_tensor,
    median,
)
from negaudio.eval.predictions import Predictions
from negaudio.eval.samples import BuildIndex, Sample, index_build, iter_samples, samples_of_lines
from negaudio.eval.thresholds import UNIVERSAL_KINDS
from negaudio.eval.upsample import resize_bilinear
from negaudio.manifest import Build
from negaudio.rendering.execute import InlineExecutor, check_jobs, make_executor, run_bounded

DEFAULT_THRESHOLDS = ("0.5", "median", "adaptive", "max", "max10", "maxq3", "maxq3_separate")
UPSAMPLING = "bilinear, half-pixel centres (align_corners=False), no antialias, to the stored image's H x W"
Progress = Callable[[str, int, int], None]


@dataclass
class EvalConfig:
    """How to score: thresholds, where universal thresholds come from, batching, gallery size, provenance."""

    thresholds: Sequence[str] = DEFAULT_THRESHOLDS
    calibration: Path | None = None
    calibrate_on: Path | None = None
    calibration_predictions: Sequence[Path] = ()
    save_calibration: Path | None = None
    batch: int = 16
    jobs: int = 1
    gallery: int = 4
    bootstrap: int = 1000
    bootstrap_seed: int = 0
    ci_level: float = 0.95
    model: dict | None = None
    progress: Progress | None = field(default=None, repr=False)

    def __post_init__(self):
        """One threshold or one calibration file may be given alone (``thresholds="maxq3"``), not in a list."""
        if isinstance(self.thresholds, str):
            self.thresholds = (self.thresholds,)
        if isinstance(self.calibration_predictions, str | Path):
            self.calibration_predictions = (self.calibration_predictions,)


def check_threshold_specs(specs: Iterable[str]) -> list[str]:
    """Validate threshold names: a number (fixed), ``median``, ``adaptive`` or a universal kind."""
    specs = list(specs)
    keys = []
    for spec in specs:
        if spec not in ("median", "adaptive", *UNIVERSAL_KINDS):
            try:
                value = float(spec)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                kinds = ", ".join(("median", "adaptive", *UNIVERSAL_KINDS))
                raise InputError(f"--threshold {spec!r}: expected a finite number or one of {kinds}")
            keys.append(value)
        else:
            keys.append(spec)
    if not specs or len(set(keys)) != len(keys):
        raise InputError(f"--threshold: give distinct thresholds, got {specs}")
    return specs


def make_thresholds(specs: Sequence[str], universal: UniversalThresholds | None) -> list[Threshold]:
    out = []
    for spec in specs:
        if spec == "median":
            out.append(median())
        elif spec == "adaptive":
            out.append(adaptive())
        elif spec in UNIVERSAL_KINDS:
            try:
                out.append(universal.threshold(spec))
            except ValueError as exc:
                raise InputError(f"--threshold {spec}: {exc}") from None
        else:
            out.append(fixed(float(spec)))
    return out


MAXIMA_CHUNK = 1024
"""Maps per task of a maxima pass on pool workers."""


def raw_maxima(preds: Predictions, items: Collection[str], progress: Progress | None, what: str) -> dict[str, float]:
    """Max of every raw (not resized) map of ``items``, read in this process in the files' order (as a pass on
    workers reads them); loading each map also validates it, so the first bad one in that order is raised."""
    ids = [item_id for item_id in preds.item_ids() if item_id in items]
    maxima: dict[str, float] = {}
    for n, item_id in enumerate(ids, start=1):
        maxima[item_id] = preds.maximum(item_id)
        if progress and (n % 64 == 0 or n == len(ids)):
            progress(what, n, len(ids))
    return maxima


@dataclass
class MaximaPass:
    """A maxima pass on pool workers: the predictions files, and chunks of item ids with the futures of their
    maxima, in the files' order."""

    files: tuple[str, ...]
    chunks: list[tuple[list[str], Future]]


def start_maxima(preds: Predictions, executor: Executor) -> MaximaPass:
    """Submit the maxima of every map of ``preds`` to the pool's workers, in chunks, in the files' order: the
    build is indexed meanwhile (:func:`finish_maxima` then narrows what has not started to the build's maps)."""
    files = tuple(str(f) for f in preds.files)
    ids = preds.item_ids()
    chunks = [ids[k : k + MAXIMA_CHUNK] for k in range(0, len(ids), MAXIMA_CHUNK)]
    return MaximaPass(files, [(chunk, executor.submit(_maxima_in_worker, files, chunk)) for chunk in chunks])


def finish_maxima(
    started: MaximaPass, items: Collection[str], executor: Executor, progress: Progress | None, what: str
) -> dict[str, float]:
    """The maxima of the build's ``items`` from a pass :func:`start_maxima` started. The chunks that have not
    started are first cancelled, and those holding any of the items submitted again with only those; then the
    chunks are taken in order, and the first bad map among the items is raised as soon as its chunk is in (the
    one :func:`raw_maxima` raises). A map the build does not have is not reported."""
    pending: list[tuple[list[str], Future]] = []
    for chunk, future in started.chunks:
        ours = [item_id for item_id in chunk if item_id in items]
        if len(ours) < len(chunk) and future.cancel():
            if ours:
                pending.append((ours, executor.submit(_maxima_in_worker, started.files, ours)))
        else:
            pending.append((chunk, future))
    total = sum(item_id in items for chunk, _ in pending for item_id in chunk)
    maxima: dict[str, float] = {}
    for chunk, future in pending:
        for item_id, value in zip(chunk, future.result(), strict=True):
            if item_id not in items:
                continue
            if isinstance(value, str):
                raise InputError(value)  # the pool is stopped with the run (make_executor)
            maxima[item_id] = value
        if progress:
            progress(what, len(maxima), total)
    return maxima


def _maxima_in_worker(files: tuple[str, ...], ids: list[str]) -> list[float | str]:
    """The maxima of maps ``ids``; a bad map's error in its place."""
    preds = _opened(None, files)[1]
    out: list[float | str] = []
    for item_id in ids:
        try:
            out.append(preds.maximum(item_id))
        except InputError as exc:
            out.append(str(exc))
    return out


def batch_sizes(frames: Iterable[tuple[int, int]], size: int) -> list[int]:
    """The scoring batches of a stream of samples with these frames: runs of consecutive samples sharing one
    frame size, at most ``size`` per batch (their lengths, in order)."""
    sizes: list[int] = []
    last = None
    for frame in frames:
        if sizes and sizes[-1] < size and frame == last:
            sizes[-1] += 1
        else:
            sizes.append(1)
        last = frame
    return sizes


def load_gt(build: Build, sample: Sample) -> np.ndarray:
    """The sample's GT in its frame: bool when binary (the metric core's integer fast path), else float32 in
    [0, 1]; all-False when it has no region (IoU is then 0 by definition)."""
    h, w = sample.frame
    gt = build.load_mask(sample.positive, binary=True)
    if gt is None:
        return np.zeros((h, w), dtype=bool)
    if gt.shape != (h, w):
        raise InputError(f"{sample.positive.mask.path}: mask is {gt.shape}, the image is {(h, w)}")
    return gt


@dataclass
class Calibration:
    """Universal thresholds (None when none is requested), where they came from, and the record to save."""

    thresholds: UniversalThresholds | None
    info: dict
    record: dict | None = None


def needs_maxima_first(config: EvalConfig) -> bool:
    """True when universal thresholds are calibrated on this build: every map's maximum is needed before
    scoring, so maps are read twice (a maxima pass, then the scoring pass); otherwise each map is read once."""
    universal = any(s in UNIVERSAL_KINDS for s in config.thresholds)
    return universal and config.calibration is None and config.calibrate_on is None


def other_model_note(calibration, made: dict, scored: dict) -> str | None:
    """A note when the calibration file's thresholds come from another model's maps than the ones scored: a
    paper's for another model than ``--model`` (or predictions), or a saved file of another ``--model`` spec."""
    paper = made.get("paper")
    if paper and paper != scored.get("zoo"):
        return f"{calibration}: thresholds hard-coded for {paper}'s maps: they hold for {paper} only"
    if not paper and made.get("spec") and scored.get("spec") and made["spec"] != scored["spec"]:
        return f"{calibration}: calibrated on the maps of --model {made['spec']}, applied to --model {scored['spec']}"
    return None


def resolve_calibration(
    config: EvalConfig,
    build: Build,
    index: BuildIndex,
    maxima: dict | None,
    predictions: Sequence[dict] = (),
) -> Calibration:
    """Universal thresholds from a saved file, another build, or this build (in-sample, optimistic; its record
    names ``predictions``, the identity of the files the maxima came from)."""
    identity = build_identity(build)
    if not any(s in UNIVERSAL_KINDS for s in config.thresholds):
        return Calibration(None, {"source": "none", "note": "no universal threshold requested"})
    if config.calibration is not None:
        universal, record = load_calibration(config.calibration)
        in_sample = record.get("build", {}).get("content_sha256") == identity["content_sha256"]
        info = {"source": "file", "path": str(config.calibration), "build": record.get("build")}
        if note := other_model_note(config.calibration, record.get("model") or {}, config.model or {}):
            info["model_note"] = note
    elif config.calibrate_on is not None:
        other = Build(config.calibrate_on)
        if not config.calibration_predictions:
            raise InputError("--calibrate-on BUILD needs --calibration-predictions PRED: the model's maps on it")
        other_index = index_build(other)
        other_preds = Predictions(config.calibration_predictions)
        try:
            other_preds.check_items(other_index.items)
            other_max = raw_maxima(other_preds, other_index.items, config.progress, "calibration maxima")
            other_identity = build_identity(other)
            universal = calibrate(other_index, other_max, split_name(other_identity))
            calibrated_on = other_preds.identity()
            record = calibration_record(universal, other_identity, calibrated_on, config.model)
        finally:
            other_preds.close()
        in_sample = other_identity["content_sha256"] == identity["content_sha256"]
        info = {"source": "build", "build": other_identity, "predictions": calibrated_on}
    else:
        universal = calibrate(index, maxima, split_name(identity))
        record = calibration_record(universal, identity, list(predictions), config.model)
        in_sample = True
        info = {"source": "in-sample", "build": identity}
    info |= {"split": universal.split, "in_sample": in_sample, "thresholds": universal.to_dict()}
    if in_sample:
        info["note"] = (
            "universal thresholds were calibrated on the evaluated build itself: in-sample, so optimistic; "
            "calibrate on another split (--calibrate-on, --calibration) for a fair test"
        )
    return Calibration(universal, info, record)


def gallery_picks(margins: Sequence[float], count: int) -> dict[int, str]:
    """Representative samples for the gallery, by separability margin (``sample_margins``): the best, the worst
    and evenly spaced ranks between (the median for three). Returns sample index -> its rank, in words. Equal
    margins keep stream order, and a pick that shares its margin says so ("best, one of 24 tied")."""
    n = len(margins)
    if count <= 0 or n == 0:
        return {}
    values = np.asarray(margins, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    names = {(n - 1) // 2: "median", n // 2: "median", 0: "best", n - 1: "worst"}
    ranks = np.linspace(0, n - 1, min(count, n)).round().astype(int)
    tied = {int(r): int(np.count_nonzero(values == values[order[r]])) for r in ranks}
    return {
        int(order[r]): names.get(int(r), f"rank {r + 1} of {n}") + (f", one of {tied[r]} tied" if tied[r] > 1 else "")
        for r in ranks
    }


def sample_margins(index: BuildIndex, maxima: dict, roles: dict[str, str]) -> list[float]:
    """Per sample, in stream order: the positive map's max minus the highest max of its negatives (raw maps;
    the positive's max alone without negatives)."""
    out = []
    for positive, others in index.members:
        negs = [maxima[item_id] for n, item_id in others.items() if roles[n] != NOISY_POSITIVE]
        out.append(maxima[positive] - max(negs, default=0.0))
    return out


def item_roles(index: BuildIndex) -> dict[str, str]:
    """The scoring role of every non-positive item type of a build, in the build's order."""
    negatives, noisy, mismatched = set(index.negatives()), set(index.noisy()), set(index.kinds("mismatched"))
    roles = {}
    for name, kind in index.types.items():
        if name in noisy:
            roles[name] = NOISY_POSITIVE
        elif name in negatives:
            roles[name] = MISMATCHED if name in mismatched else NEGATIVE
        elif name != POSITIVE:
            raise InputError(f"item type {name!r} has kind {kind!r}: neither a negative nor a noisy positive")
    return roles


CHUNK_BATCHES = 8
"""Scoring batches per task: a worker (``--jobs`` > 1) scores this many batches and hands back their values."""


@dataclass(frozen=True)
class _Job:
    """What every chunk of a scoring pass needs besides its samples (picklable, for pool workers)."""

    build_root: str
    files: tuple[str, ...]
    thresholds: tuple[Threshold, ...]
    roles: dict
    source_kind: str
    batch: int


@dataclass
class _Scored:
    """One chunk's values: its evaluator and benchmark parts, gallery entries and the maxima it took."""

    index: int
    samples: int
    evaluator: NegativeAudioEvaluator
    benchmark: BenchmarkMetrics
    gallery: list[dict]
    maxima: dict[str, float]


_OPENED: dict = {}  # a pool worker's predictions and build, opened on its first task


def _opened(build_root: str | None, files: tuple[str, ...]) -> tuple[Build | None, Predictions]:
    """This worker's build (None: not needed) and predictions, opened once; on its first task the worker keeps
    the heap memory it frees (a worker is a process of ours, forked or spawned: ``keep_freed_memory``)."""
    if _OPENED.get("files") != files:
        if "predictions" in _OPENED:
            _OPENED["predictions"].close()
        else:
            keep_freed_memory()
        _OPENED.clear()
        _OPENED.update(files=files, predictions=Predictions(files))
    if build_root is not None and _OPENED.get("root") != build_root:
        _OPENED.update(root=build_root, build=Build(build_root))
    return _OPENED.get("build") if build_root is not None else None, _OPENED["predictions"]


def _score_in_worker(job: _Job, index: int, start: int, lines: list, seen: tuple, maxima, picks, margins) -> _Scored:
    build, preds = _opened(job.build_root, job.files)
    return score_chunk(build, preds, job, index, start, lines, seen, maxima, picks, margins)


def score_chunk(
    build: Build,
    preds: Predictions,
    job: _Job,
    index: int,
    start: int,
    lines: list,
    seen: tuple,
    maxima,
    picks,
    margins,
) -> _Scored:
    """Score the samples of consecutive manifest ``lines`` (the first is the pass's sample ``start``; ``seen``: their
    batch sizes, and the members and frames the index pass saw): resize every map to its frame and feed one
    evaluator and one benchmark part; maxima are of the raw maps (``maxima``, or taken here when None); gallery
    entries for the ``picks`` among these samples."""
    sizes, members, frames = seen
    samples = samples_of_lines(build, lines, members, frames)
    batches = [samples[a:b] for a, b in pairwise(np.cumsum([0, *sizes]).tolist())]
    given = maxima is not None
    maxima = maxima if given else {}
    buffers: dict[str, np.ndarray] = {}

    def load(name: str, j: int, item_id: str, h: int, w: int) -> None:
        """Read map ``item_id`` (its raw max noted) into row j of the batch buffer of type ``name``; buffers are
        reused from batch to batch, and a stored map of the frame's size is read straight into its row."""
        shape = (job.batch, h, w)
        if name not in buffers or buffers[name].shape != shape:
            buffers[name] = np.empty(shape, dtype=np.float32)
        row = buffers[name][j]
        m, top = preds.load_with_max(item_id, out=row, verify=not given)  # a map's first read checks its CRC-32
        if not given:
            maxima[item_id] = top
        if m is not row:
            row[...] = resize_bilinear(m, h, w)

    evaluator = NegativeAudioEvaluator(job.thresholds, job.roles)
    benchmark = BenchmarkMetrics(job.roles, job.source_kind)
    gallery: list[dict] = []
    done = start
    for batch in batches:
        h, w = batch[0].frame
        gt = np.stack([load_gt(build, s) for s in batch])  # float32 when one of them is soft
        present, ids = batch_layout(batch)
        for j, item_id in enumerate(ids[POSITIVE]):
            load(POSITIVE, j, item_id, h, w)
        row = dict.fromkeys(present, 0)
        for s in batch:  # in manifest order
            for name, r in s.others.items():
                load(name, row[name], r.item_id, h, w)
                row[name] += 1
        pos = buffers[POSITIVE][: len(batch)]
        others = {name: buffers[name][: len(where)] for name, where in present.items()}
        feed(evaluator, benchmark, batch, pos, gt, others, present, ids, maxima)
        gallery += batch_gallery(build, batch, done, gt, pos, others, present, picks, margins)
        done += len(batch)
    return _Scored(index, done - start, evaluator, benchmark, gallery, {} if given else maxima)


def batch_layout(batch: Sequence[Sample]) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
    """Per other item type, the batch indices of the samples that have one (``present``); per type, the item
    ids in batch order, the positives' first (``ids``)."""
    present: dict[str, list[int]] = {}
    ids: dict[str, list[str]] = {POSITIVE: [s.positive.item_id for s in batch]}
    for i, s in enumerate(batch):
        for name, r in s.others.items():
            present.setdefault(name, []).append(i)
            ids.setdefault(name, []).append(r.item_id)
    return present, ids


def feed(evaluator, benchmark, batch, pos, gt, others, present, ids, maxima) -> None:
    """One scoring batch (numpy arrays, or torch tensors on one device) into the evaluator and the benchmark
    part fed alongside; ``maxima``: every item's raw maximum by item id."""
    evaluator.update(
        pos,
        gt,
        others,
        present=present,
        maxima={name: [maxima[i] for i in item_ids] for name, item_ids in ids.items()},
        item_ids=ids,
        sample_ids=[s.sample_id for s in batch],
        groups=[s.positive.group or s.sample_id for s in batch],
    )
    benchmark.update(batch, pos, gt, others, present)


def batch_gallery(build, batch, done, gt, pos, others, present, picks, margins) -> list[dict]:
    """Gallery entries of the ``picks`` among a batch whose first sample is the pass's sample ``done`` (maps
    copied to numpy: buffers are reused, tensors may be on a GPU)."""
    entries = []
    for i, s in enumerate(batch):
        if done + i in picks:
            maps = {n: m[present[n].index(i)] for n, m in others.items() if i in present[n]}
            maps = {n: _copy(m) for n, m in ({POSITIVE: pos[i]} | maps).items()}
            entries.append(gallery_entry(build, s, _copy(gt[i]), maps, margins[done + i], picks[done + i]))
    return entries


def _copy(a) -> np.ndarray:
    return a.cpu().numpy() if is_tensor(a) else a.copy()


def scoring_parts(build: Build, index: BuildIndex, thresholds, maxima: dict | None, gallery: int) -> tuple:
    """What a scoring pass starts from: the item roles, an empty evaluator and benchmark part, and the gallery's
    margins and picks (none before the maxima are known)."""
    roles = item_roles(index)
    benchmark = BenchmarkMetrics(roles, build.info.get("source", {}).get("kind", ""))
    margins = sample_margins(index, maxima, roles) if maxima is not None and gallery > 0 else []
    return roles, NegativeAudioEvaluator(thresholds, roles), benchmark, margins, gallery_picks(margins, gallery)


def sample_lines(build: Build, index: BuildIndex, counts: Iterable[int]) -> Iterator[tuple[int, list[str]]]:
    """The manifest lines of consecutive runs of ``counts`` samples, unparsed, each with its first sample."""
    lines = build.lines()
    start = 0
    for n in counts:
        rows = sum(1 + len(others) for _, others in index.members[start : start + n])
        yield start, list(islice(lines, rows))
        start += n


def score(
    build: Build,
    index: BuildIndex,
    preds: Predictions,
    maxima: dict | None,
    thresholds: list[Threshold],
    config: EvalConfig,
    executor: Executor | None = None,
) -> tuple[NegativeAudioEvaluator, BenchmarkMetrics, list[dict]]:
    """Stream the build's samples in frame batches and score them chunk by chunk (:func:`score_chunk`), in this
    process or on ``executor``'s workers; the parts are joined in stream order, so the values do not depend on
    the worker count. Maxima are of the raw maps (``maxima``, or taken while scoring when None)."""
    given = maxima is not None
    roles, evaluator, benchmark, margins, picks = scoring_parts(build, index, thresholds, maxima, config.gallery)
    files = tuple(str(f) for f in preds.files)
    job = _Job(str(build.root), files, tuple(thresholds), roles, benchmark.source_kind, config.batch)
    gallery: list[dict] = []
    found: dict[str, float] = {}
    waiting: dict[int, _Scored] = {}
    joined = done = 0

    def chunks() -> Iterator[tuple]:
        """Tasks of CHUNK_BATCHES batches each: the samples' manifest lines, unparsed (a worker parses its own)."""
        sizes = batch_sizes(index.frames, config.batch)
        runs = [sizes[first : first + CHUNK_BATCHES] for first in range(0, len(sizes), CHUNK_BATCHES)]
        parts = zip(runs, sample_lines(build, index, map(sum, runs)), strict=True)
        for k, (chunk, (start, lines)) in enumerate(parts):
            n = sum(chunk)
            yield task(k, start, lines, (chunk, index.members[start : start + n], index.frames[start : start + n]))

    def task(k: int, start: int, lines: list, seen: tuple) -> tuple:
        n = sum(seen[0])
        own = {i: picks[i] for i in range(start, start + n) if i in picks}
        chunk_margins = {i: margins[i] for i in own}
        chunk_maxima = None
        if given:
            ids = (item_id for positive, others in seen[1] for item_id in (positive, *others.values()))
            chunk_maxima = {item_id: maxima[item_id] for item_id in ids}
        return (job, k, start, lines, seen, chunk_maxima, own, chunk_margins)

    def join(part: _Scored) -> None:
        nonlocal joined, done
        waiting[part.index] = part
        while joined in waiting:
            part = waiting.pop(joined)
            evaluator.extend(part.evaluator)
            benchmark.extend(part.benchmark)
            gallery.extend(part.gallery)
            found.update(part.maxima)
            joined, done = joined + 1, done + part.samples
            if config.progress:
                config.progress("scoring", done, index.n_samples)

    if executor is None:
        for job_, k, start, lines, seen, chunk_maxima, own, chunk_margins in chunks():
            join(score_chunk(build, preds, job_, k, start, lines, seen, chunk_maxima, own, chunk_margins))
    else:
        run_bounded(executor, _score_in_worker, chunks(), 2 * config.jobs, join)
    if not given and config.gallery > 0:
        gallery = gallery_after_scoring(build, index, preds, found, roles, config.gallery)
    return evaluator, benchmark, gallery


def gallery_entry(build: Build, s: Sample, gt: np.ndarray, maps: dict, margin: float, rank: str) -> dict:
    """One gallery sample: its GT, its maps in the frame, its image, its margin and rank."""
    image = np.asarray(build.open_image(s.positive), dtype=np.float64)
    return {"sample": s, "gt": gt, "maps": maps, "image": image, "margin": margin, "rank": rank}


def gallery_after_scoring(
    build: Build, index: BuildIndex, preds: Predictions, maxima: dict, roles: dict, count: int
) -> list[dict]:
    """The gallery of a single-pass score: picked from the maxima taken while scoring, so only the picked
    samples' maps are read again."""
    margins = sample_margins(index, maxima, roles)
    picks = gallery_picks(margins, count)
    gallery = []
    for k, s in enumerate(iter_samples(build)):
        if k > max(picks, default=-1):
            break
        if k in picks:
            h, w = s.frame
            gt = load_gt(build, s)
            maps = {POSITIVE: s.positive.item_id} | {n: r.item_id for n, r in s.others.items()}
            maps = {n: resize_bilinear(preds.load(item_id), h, w) for n, item_id in maps.items()}
            gallery.append(gallery_entry(build, s, gt, maps, margins[k], picks[k]))
    return gallery


def check_config(config: EvalConfig) -> None:
    """Every option that can be checked before a map is read or a model runs (a wrong one costs nothing)."""
    from negaudio.eval.calibration import load_calibration

    check_threshold_specs(config.thresholds)
    if config.calibration is not None and config.calibrate_on is not None:
        raise InputError("give --calibration FILE or --calibrate-on BUILD, not both")
    if config.calibration_predictions and config.calibrate_on is None:
        raise InputError(
            "--calibration-predictions PRED: give --calibrate-on BUILD2 too (the other build they are maps of)"
        )
    if config.calibration is not None:
        load_calibration(config.calibration)
    if config.save_calibration is not None:
        refuse_inside_build(config.save_calibration, "calibration")
        target = Path(config.save_calibration)
        if target.is_dir():
            raise InputError(f"--save-calibration {target}: is a folder; give a file name")
        if target.exists() or target.is_symlink():
            try:
                load_calibration(target)  # an earlier calibration, which the new one replaces
            except InputError:
                raise InputError(
                    f"--save-calibration {target}: holds a file that is not a negaudio calibration; it is not "
                    "replaced: give a new file name"
                ) from None
    if not is_count(config.batch, 1):
        raise InputError(f"--batch must be >= 1, got {config.batch!r}")
    check_jobs(config.jobs)
    if config.gallery < 0:
        raise InputError(f"--gallery must be >= 0 (0: no gallery), got {config.gallery}")
    check_resamples(config.bootstrap)
    if not 0 < config.ci_level < 1:
        raise InputError(f"--ci-level must be in (0, 1), got {config.ci_level}")


def evaluate(
    build_root: Path, predictions: Sequence[Path], out_dir: Path, config: EvalConfig, device_maps=None
) -> dict:
    """Score ``predictions`` on the build at ``build_root``; write report.json, report.md, items.csv, plots.
    With ``config.jobs`` > 1 the scoring runs on that many worker processes (the same values). ``device_maps``
    (a :class:`~negaudio.eval.device_scoring.DeviceMaps` holding the maps of ``predictions``): scored on their
    device instead."""
    check_config(config)
    import negaudio.eval.report  # noqa: F401  (matplotlib: imported once, before forked workers that draw plots)

    # workers start before anything else (forked with the modules imported); beside them, this process's own
    # numeric work (the bootstrap while they draw the plots) takes one BLAS thread, not one per CPU
    with (
        make_executor(config.jobs) if config.jobs > 1 else nullcontext() as executor,
        threadpool_limits(1, user_api="blas") if config.jobs > 1 else nullcontext(),
    ):
        return _evaluate(build_root, predictions, out_dir, config, executor, device_maps)


def _evaluate(
    build_root: Path,
    predictions: Sequence[Path],
    out_dir: Path,
    config: EvalConfig,
    executor: Executor | None,
    device_maps=None,
) -> dict:
    from negaudio.eval.report import PlotDraft, items_csv, plot_inputs, write_outputs

    build = Build(build_root)
    preds = Predictions(predictions)
    draft = started = None
    try:
        scored_on = {"scored_on": "cpu"} if device_maps is None else device_maps.report_entry()
        if device_maps is not None and device_maps.dropped:
            device_maps = None  # the maps file is scored instead (``scored_on`` says why)
        first = needs_maxima_first(config) and device_maps is None
        if first and executor is not None:  # the workers read maps while the build is indexed
            started = start_maxima(preds, executor)
        index = index_build(build)
        unknown = preds.check_items(index.items)
        maxima = None
        if device_maps is not None:
            maxima = device_maps.maxima()
        elif started is not None:
            maxima = finish_maxima(started, index.items, executor, config.progress, "reading maps")
        elif first:
            maxima = raw_maxima(preds, index.items, config.progress, "reading maps")
        scored = preds.identity()
        calibration = resolve_calibration(config, build, index, maxima, scored)
        thresholds = make_thresholds(config.thresholds, calibration.thresholds)
        parts = None
        if device_maps is not None:
            from negaudio.eval.device_scoring import score_on_device

            parts = score_on_device(build, index, device_maps, maxima, thresholds, config)
            if parts is None:  # out of device memory: the maps file on the CPU
                scored_on = device_maps.report_entry()
        evaluator, benchmark, gallery = parts or score(build, index, preds, maxima, thresholds, config, executor)
        metrics = evaluator.compute() | benchmark.compute(evaluator)
        rows = evaluator.rows()
        inputs = plot_inputs(metrics, evaluator, rows, gallery, headline_threshold([t.label for t in thresholds]))
        table = (evaluator, [t.label for t in thresholds], index.types)  # items.csv
        runner = executor or InlineExecutor()  # workers draw the plots and write items.csv while we bootstrap
        draft = PlotDraft(out_dir, runner, inputs)
        items = runner.submit(items_csv, *table)
        report = {
            "negaudio_version": __version__,
            "build": build_identity(build)
            | {
                "counts": build.info.get("counts", {}),
                "failures": build.info.get("failures", 0),
                "missing": build.info.get("missing") or {},
            },
            "predictions": {"files": scored, "unknown_items": len(unknown), "unknown_first": unknown[:20]},
            "model": None if config.model is None else config.model | scored_on,
            "upsampling": UPSAMPLING,
            "maxima_on": "raw prediction maps, before resizing (as vssl_eval)",
            "calibration": calibration.info,
            "thresholds": [
                {"label": t.label, "kind": t.kind, "value": t.value, "source": t.source, "size_prior": t.size_prior}
                for t in thresholds
            ],
            "counts": {"samples": index.n_samples, "items": len(index.items)}
            | {n: v["max"].size for n, v in evaluator.per_item().items()},
            "ground_truth": {"samples_with_gt": index.with_gt},
            "types": index.types,
            "headline": headline(metrics, evaluator, config.bootstrap, config.bootstrap_seed, config.ci_level),
            "metrics": metrics,
        }
        if config.save_calibration is not None and calibration.record is not None:
            save_calibration(config.save_calibration, calibration.record)
        items = items.result()
        draft.wait()
    except BaseException as exc:
        if draft is not None:
            draft.discard(wait=isinstance(exc, Exception))
        raise
    finally:
        preds.close()
    write_outputs(out_dir, build, report, items, calibration.record, draft)
    return report
