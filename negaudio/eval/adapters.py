"""Model adapters: loading ``--model SPEC``, preparing batches of images and waveforms, writing the maps.

An adapter is a callable ``adapter(images, waves, records) -> maps``:
- ``images``: float32 [B, 3, H, W] in [0, 1], RGB, each image resized to ``adapter.image_size`` (default 224x224)
  with PIL bicubic; or what ``adapter.preprocess_image(pil_image)`` returns, stacked.
- ``waves``: float32 [B, C, N] at ``adapter.sample_rate`` (default: the build's), fitted to
  ``adapter.audio_seconds`` (centred, tiled when short) or zero-padded to the longest clip of the batch;
  ``record.audio.num_samples`` gives each clip's own length at the build's rate.
- ``records``: the batch's ``ManifestRecord``s (item_id, kind, name, ...).
- returns [B, h, w] maps (numpy or torch) or a sequence of B 2-D maps of any resolution.
Optional ``adapter.setup(build, device)`` runs once before the first batch; optional ``adapter.fit_wave(wave)``
maps each clip ([C, N] at the adapter's rate) to the model's own window before batching. An exception raised by
an adapter's code becomes one ``error:`` line (exit 1); ``NEGAUDIO_DEBUG=1`` prints its traceback too. The
next batch is read on a thread while the model runs. See docs/eval.md and docs/models.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from negaudio.core.errors import InputError, NegaudioError
from negaudio.core.extras import require
from negaudio.core.limits import is_count
from negaudio.core.suggest import did_you_mean
from negaudio.eval.media import check_files
from negaudio.eval.predictions import MODEL_MARK, PredictionWriter, not_finite
from negaudio.manifest import Build, ManifestRecord

T = TypeVar("T")
DEFAULT_IMAGE_SIZE = (224, 224)
IMAGE_CACHE = 8
BUILTINS = {
    "visual-prior": "negaudio.eval.baselines:VisualPrior",
    "energy-gated": "negaudio.eval.baselines:EnergyGated",
    "random": "negaudio.eval.baselines:RandomMaps",
    "oracle": "negaudio.eval.baselines:Oracle",
    "ezvsl": "negaudio.eval.models.adapter:Ezvsl",
    "slavc": "negaudio.eval.models.adapter:Slavc",
    "fnac": "negaudio.eval.models.adapter:Fnac",
    "lvs": "negaudio.eval.models.adapter:Lvs",
    "ssl-align": "negaudio.eval.models.adapter:SslAlign",
    "ssl-tie": "negaudio.eval.models.adapter:SslTie",
}
DEBUG_ENV = "NEGAUDIO_DEBUG"


class AdapterError(NegaudioError):
    """The adapter's own code raised: a runtime failure (exit 1), not an invalid option."""


def call_adapter(spec: str, what: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; an exception other than negaudio's becomes one AdapterError line naming the
    adapter, the step and the exception (its traceback printed first when ``$NEGAUDIO_DEBUG`` is set)."""
    try:
        return fn(*args, **kwargs)
    except NegaudioError:
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        hint = "" if os.environ.get(DEBUG_ENV) else f" (set {DEBUG_ENV}=1 for the traceback)"
        raise AdapterError(f"--model {spec}: {what} raised {type(exc).__name__}: {exc}{hint}") from exc


def resolve_object(target: str, what: str):
    """The object named ``module:name`` or ``path/to/file.py:name``; ``what`` names the option in errors."""
    if ":" not in target:
        raise InputError(f"{what} {target!r}: expected module:callable or path/to/file.py:callable")
    where, name = target.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise InputError(f"{what} {target!r}: {path} not found")
            module_spec = importlib.util.spec_from_file_location(f"negaudio_user_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ImportError as exc:
        raise InputError(f"{what} {target!r}: cannot import {where} ({exc})") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise InputError(f"{what} {target!r}: {where} has no attribute {name!r}") from None


def load_adapter(spec: str, options: Mapping[str, str] | None = None):
    """The adapter named by ``spec``: a built-in name, ``module:callable`` or ``path/to/file.py:callable``.

    A class is instantiated with ``options`` as keyword arguments; a function given options is called with
    them and must return the adapter; otherwise the object itself is the adapter.
    """
    if spec not in BUILTINS and ":" not in spec:
        raise InputError(
            f"--model {spec!r}: expected a built-in ({', '.join(BUILTINS)}), module:callable or file.py:callable"
            + did_you_mean(spec, BUILTINS)
        )
    target = resolve_object(BUILTINS.get(spec, spec), "--model")
    if getattr(target, "uses_torch", False) is True:  # before any option is checked or anything is written
        require("torch", "torch", f"--model {spec}")
    options = dict(options or {})
    if isinstance(target, type) or options:
        check_options(spec, target, options)
        try:
            target = call_adapter(spec, "loading the adapter", target, **options)
        except AdapterError as exc:
            if isinstance(exc.__cause__, ValueError):  # a bad option value, as the adapter says
                raise InputError(f"--model {spec!r}: {exc.__cause__}") from None
            raise
    if not callable(target):
        raise InputError(f"--model {spec!r}: the adapter is not callable")
    return target


def check_options(spec: str, target, options: Mapping[str, str]) -> None:
    """An InputError naming each option the adapter does not take (``--checkpoint`` and ``--compat`` are
    options too) and the ones it does, or the required ones left out."""
    try:
        signature = inspect.signature(target)
    except ValueError:  # no signature available (builtins): let the call decide
        return
    params = signature.parameters.values()
    takes = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in options if k not in takes]
    if unknown and not any(p.kind == p.VAR_KEYWORD for p in params):
        names = ", ".join(f"--{k}" if k in ("checkpoint", "compat") else f"--model-opt {k}=..." for k in unknown)
        offered = f"its options: {', '.join(takes)}" if takes else "it takes no option"
        raise InputError(f"--model {spec!r} does not take {names} ({offered})")
    try:
        signature.bind(**options)
    except TypeError as exc:
        raise InputError(f"--model {spec!r}: {exc}") from None


def uses_torch(adapter) -> bool:
    """``adapter.uses_torch`` when declared; otherwise whether loading it imported torch."""
    return bool(getattr(adapter, "uses_torch", "torch" in sys.modules))


def resolve_device(device: str, torch_adapter: bool) -> str:
    """``auto``: cuda when torch sees a GPU, else cpu. ``cuda`` without a GPU is an input error.

    Numpy adapters always run on the cpu (torch is not imported for them).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device {device!r}: expected auto, cpu or cuda")
    if device == "cpu" or (device == "auto" and not torch_adapter):
        return "cpu"
    if not torch_adapter:
        raise InputError("--device cuda: this adapter runs on numpy (cpu only)")
    available = require("torch", "torch", f"--device {device}").cuda.is_available()
    if device == "cuda" and not available:
        raise InputError("--device cuda: no CUDA device visible to torch")
    return "cuda" if available else "cpu"


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """[C, L] -> [C, n]: the centred n samples, the clip tiled first when it is shorter."""
    length = wave.shape[1]
    if length == 0:
        return np.zeros((wave.shape[0], n), dtype=np.float32)
    if length < n:
        wave = np.tile(wave, (1, -(-n // length)))
    start = (wave.shape[1] - n) // 2
    return wave[:, start : start + n]


class BatchLoader:
    """Reads and prepares one batch of records for an adapter (decoded images are cached per path)."""

    def __init__(self, build: Build, adapter, spec: str = "adapter"):
        self.build = build
        self.spec = spec
        self.image_size = tuple(getattr(adapter, "image_size", DEFAULT_IMAGE_SIZE))
        self.preprocess = getattr(adapter, "preprocess_image", None)
        self.sample_rate = getattr(adapter, "sample_rate", None)
        self.audio_seconds = getattr(adapter, "audio_seconds", None)
        self.fit_wave = getattr(adapter, "fit_wave", None)
        self._images: dict[str, np.ndarray] = {}

    def _image(self, record: ManifestRecord) -> np.ndarray:
        """The prepared image of ``record``; the last IMAGE_CACHE images are kept (samples share theirs)."""
        rel = record.image.path
        if rel not in self._images:
            im = self.build.open_image(record)
            if self.preprocess is not None:
                image = np.asarray(self.preprocess(im), dtype=np.float32)
            else:
                h, w = self.image_size
                im = im.resize((w, h), Image.Resampling.BICUBIC)
                image = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
            if len(self._images) == IMAGE_CACHE:
                del self._images[next(iter(self._images))]
            self._images[rel] = image
        return self._images[rel]

    def _wave(self, record: ManifestRecord) -> np.ndarray:
        wave = self.build.load_audio(record)
        if self.sample_rate and self.sample_rate != record.audio.sample_rate:
            import soxr

            wave = np.ascontiguousarray(soxr.resample(wave.T, record.audio.sample_rate, self.sample_rate).T)
        if self.audio_seconds:
            wave = fit_length(wave, round(self.audio_seconds * (self.sample_rate or record.audio.sample_rate)))
        if self.fit_wave is not None:
            wave = call_adapter(self.spec, "fit_wave", self.fit_wave, wave)
        return wave.astype(np.float32)

    def __call__(self, records: Sequence[ManifestRecord]) -> tuple[np.ndarray, np.ndarray]:
        images = np.stack([self._image(r) for r in records])
        waves = [self._wave(r) for r in records]
        channels = {w.shape[0] for w in waves}
        if len(channels) != 1:
            raise InputError(f"a batch mixes channel counts {sorted(channels)}: rebuild with one channel layout")
        batch = np.zeros((len(waves), waves[0].shape[0], max(w.shape[1] for w in waves)), dtype=np.float32)
        for i, w in enumerate(waves):
            batch[i, :, : w.shape[1]] = w
        return images, batch


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _not_a_sequence(output) -> bool:
    """True for what cannot hold maps one by one: text, a mapping, anything not iterable."""
    return isinstance(output, str | bytes | Mapping) or not isinstance(output, Iterable)


def as_batch(output):
    """An adapter's output with an iterator of maps read into a list (once, within the adapter's own call)."""
    return output if hasattr(output, "ndim") or _not_a_sequence(output) else list(output)


def to_maps(output, count: int, spec: str) -> list[np.ndarray]:
    """An adapter's output as ``count`` 2-D float32 numpy maps, none empty (torch tensors are detached and moved
    to cpu); anything else is an InputError naming what it returned."""
    kind = type(output).__name__
    if hasattr(output, "detach"):
        output = output.detach().float().cpu().numpy()
    if not getattr(output, "ndim", 1) or _not_a_sequence(output):
        raise InputError(f"--model {spec!r} returned {kind}, not maps")
    try:
        maps = [np.asarray(m.detach().float().cpu() if hasattr(m, "detach") else m, dtype=np.float32) for m in output]
    except (TypeError, ValueError) as exc:
        raise InputError(f"--model {spec!r} returned maps that are not arrays of numbers ({exc})") from None
    if len(maps) != count or any(m.ndim != 2 for m in maps):
        shapes = sorted({m.shape for m in maps})
        raise InputError(f"--model {spec!r} returned {len(maps)} maps of shapes {shapes} for a batch of {count}")
    if any(m.size == 0 for m in maps):
        raise InputError(f"--model {spec!r} returned an empty map (shape {next(m.shape for m in maps if not m.size)})")
    return maps


def run_model(
    build: Build,
    adapter,
    spec: str,
    out_path: Path,
    batch: int,
    device: str,
    progress: Callable[[str, int, int], None] | None = None,
    keep: Callable[[Sequence[ManifestRecord], object], None] | None = None,
    before_replace: Callable[[], None] | None = None,
) -> Path:
    """Run ``adapter`` over every item of ``build`` in manifest order; write the maps to ``out_path`` (.npz), and
    hand each batch's records and output, once checked, to ``keep`` (e.g. ``DeviceMaps.add``). ``before_replace``
    is called once every map is written, before the file takes its place (see ``PredictionWriter``).

    A media file missing from the build is reported before anything is written; on any failure no
    ``out_path`` is left, nor its folder when this call created it.
    """
    if not is_count(batch, 1):
        raise InputError(f"--batch must be >= 1, got {batch!r}")
    check_files(build)
    if hasattr(adapter, "setup"):
        call_adapter(spec, "setup", adapter.setup, build, device)
    loader = BatchLoader(build, adapter, spec)
    done, total = 0, len(build)
    folder = out_path.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with PredictionWriter(out_path, MODEL_MARK, before_replace) as writer, ThreadPoolExecutor(1) as reader:
            batches = chunks(build, batch)

            def read_next():
                records = next(batches, None)
                return None if records is None else (records, *loader(records))

            ahead = reader.submit(read_next)
            while (ready := ahead.result()) is not None:
                ahead = reader.submit(read_next)
                records, images, waves = ready
                output = call_adapter(spec, "the model", lambda *a: as_batch(adapter(*a)), images, waves, records)
                for r, m in zip(records, to_maps(output, len(records), spec), strict=True):
                    if not np.isfinite(m).all():
                        raise InputError(f"--model {spec!r} returned a map with {not_finite(m)} for item {r.item_id!r}")
                    writer.add(r.item_id, m)
                if keep is not None:
                    keep(records, output)
                done += len(records)
                if progress:
                    progress("running model", done, total)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return out_path
