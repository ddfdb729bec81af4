"""The library behind ``negaudio eval``: run a model adapter (when asked) and score its maps on a build."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from negaudio.core.errors import InputError


def check_output(output: Path, build_dir: Path) -> None:
    """The report folder is a folder of its own: never a file, never the build or a folder inside it."""
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a folder; give a folder for the report")
    target, build = output.resolve(), build_dir.resolve()
    if target == build or build in target.parents:
        raise InputError(f"{output}: is inside the build {build_dir}; write the report to a folder of its own")


def evaluate(
    build_dir: Path,
    output: Path,
    *,
    predictions: Path | Sequence[Path] | None = None,
    model: str | None = None,
    model_options: dict[str, str] | None = None,
    device: str = "auto",
    **config,
) -> dict:
    """Score ``predictions`` (an .npz, a folder of them, or a list) or the maps of ``model`` on the build at
    ``build_dir``; write report.json, report.md, items.csv and the plots to ``output``; return the report.
    ``config`` holds the fields of :class:`negaudio.eval.pipeline.EvalConfig` (thresholds, calibration, ...)."""
    from negaudio.eval.adapters import load_adapter, resolve_device, run_model, uses_torch
    from negaudio.eval.pipeline import EvalConfig
    from negaudio.eval.pipeline import evaluate as score
    from negaudio.manifest import Build

    if (predictions is None) == (model is None):
        raise InputError("give --predictions PRED or --model SPEC (one of them)")
    check_output(Path(output), Path(build_dir))
    settings = EvalConfig(**config)
    output = Path(output)
    if model is None:
        files = [Path(predictions)] if isinstance(predictions, str | Path) else [Path(p) for p in predictions]
        return score(Path(build_dir), files, output, settings)
    options = dict(model_options or {})
    adapter = load_adapter(model, options)
    used = resolve_device(device, uses_torch(adapter))
    settings.model = {"spec": model, "options": options, "device": used} | getattr(adapter, "provenance", {})
    build = Build(build_dir)
    maps = run_model(build, adapter, model, output / "predictions.npz", settings.batch, used, settings.progress)
    if settings.calibrate_on is not None:
        path = output / "calibration_predictions.npz"
        other = Build(settings.calibrate_on)
        settings.calibration_predictions = [
            run_model(other, adapter, model, path, settings.batch, used, settings.progress)
        ]
    return score(Path(build_dir), [maps], output, settings)
