"""The library behind ``negaudio eval``: run a model adapter (when asked) and score its maps on a build."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.core.outputs import check_output_folder


def check_output(output: Path, inputs: Sequence[Path] = ()) -> None:
    """The report folder is a folder of its own: not a file, not in any build, and new, empty or an earlier
    report's folder (whose files the new report replaces); or a folder holding only the ``inputs`` to score."""
    from negaudio.eval.report import is_eval_folder

    check_output_folder(output, "report", lambda folder: is_eval_folder(folder, inputs))


def claim_maps(output: Path, predictions: Path, mark: bytes) -> None:
    """Before a script of its own writes maps to ``predictions`` (zip comment ``mark``) and scores them into
    ``output``: the maps file is new or that script's from an earlier run (which a rerun replaces), and the report
    folder may take the report (``check_output``); the folder is then created."""
    from negaudio.eval.predictions import maps_comment

    ours = maps_comment(predictions) == mark
    if predictions.exists() and not ours:
        raise InputError(f"{predictions}: maps this script did not write; give another report folder or maps file")
    check_output(output, [predictions] if ours else [])
    output.mkdir(parents=True, exist_ok=True)


def keep_maps(output: Path, inputs: Sequence[Path], writes: Collection[str] = ()) -> None:
    """Refuse a run that would replace or remove maps it must keep. A maps file the run writes (``writes``, a
    model run's) must be the folder's own model run's: with a report, one its model run wrote; without, one
    marked as a model run's (else it is a user's own, or maps a report scored with ``--predictions``). And the
    maps of the earlier report's model run, which a new report removes with the rest of the earlier one, must
    be written again or scored by this run."""
    from negaudio.eval.predictions import model_maps
    from negaudio.eval.report import CALIBRATION_MAPS, MODEL_MAPS, earlier_report

    earlier = earlier_report(output)
    ours = set(earlier.get("files") or []) if earlier and earlier.get("model") else set()
    scored = {Path(p).resolve() for p in inputs}
    for name in (MODEL_MAPS, CALIBRATION_MAPS):
        path = output / name
        if not path.exists():
            continue
        if name in writes and name not in ours and (earlier is not None or not model_maps(path)):
            raise InputError(
                f"{path}: maps that are not this folder's --model run's own (your own, or maps its report scored "
                "with --predictions); a --model run would replace them: give another -o, or move the file"
            )
        if name not in writes and name in ours and path.resolve() not in scored:
            again = "--predictions" if name == MODEL_MAPS else "--calibrate-on BUILD2 --calibration-predictions"
            raise InputError(
                f"{path}: the maps of the --model run whose report is in {output}; a new report there would "
                f"remove them: give another -o, or move the file (to score them again: {again} it)"
            )


def evaluate(
    build_dir: Path,
    output: Path,
    *,
    predictions: Path | Sequence[Path] | None = None,
    model: str | None = None,
    model_options: dict[str, str] | None = None,
    device: str = "auto",
    score_on_device: bool | None = None,
    **config,
) -> dict:
    """Score ``predictions`` (an .npz, a folder of them, or a list) or the maps of ``model`` on the build at
    ``build_dir``; write report.json, report.md, items.csv and the plots to ``output``; return the report.
    ``config`` holds the fields of :class:`negaudio.eval.pipeline.EvalConfig` (thresholds, calibration, ...).
    A model's maps are scored on the device it ran on when ``score_on_device`` (default: when that is CUDA;
    ``device_scoring.py``), else read back from its maps file on the CPU."""
    from negaudio.eval.adapters import load_adapter, resolve_device, run_model, uses_torch
    from negaudio.eval.media import check_files
    from negaudio.eval.pipeline import EvalConfig, check_config
    from negaudio.eval.pipeline import evaluate as score
    from negaudio.eval.predictions import expand_paths
    from negaudio.eval.report import CALIBRATION_MAPS, MODEL_MAPS, retire_report
    from negaudio.manifest import Build

    if (predictions is None) == (model is None):
        raise InputError("give --predictions PRED or --model SPEC" + (", not both" if model is not None else ""))
    if model is None and device != "auto":
        raise InputError(f"--device {device}: --device applies to --model (a predictions file is scored on the CPU)")
    if model is None and score_on_device:
        raise InputError("score_on_device applies to a model's maps (a predictions file is scored on the CPU)")
    output = Path(output)
    files = []
    if predictions is not None:
        files = [Path(predictions)] if isinstance(predictions, str | Path) else [Path(p) for p in predictions]
    settings = EvalConfig(**config)
    inputs = [*files, *settings.calibration_predictions]
    inputs = expand_paths(inputs) if inputs else []
    check_output(output, inputs)
    if model is None:  # scoring checks the options itself
        keep_maps(output, inputs)
        return score(Path(build_dir), files, output, settings)
    check_config(settings)  # before the model runs: a wrong option costs nothing
    if settings.calibration_predictions:
        raise InputError(
            "--calibration-predictions: with --model, the run makes the model's maps on --calibrate-on BUILD itself"
        )
    keep_maps(output, inputs, {MODEL_MAPS, CALIBRATION_MAPS} if settings.calibrate_on is not None else {MODEL_MAPS})
    build = Build(build_dir)
    other = None if settings.calibrate_on is None else Build(settings.calibrate_on)
    options = dict(model_options or {})
    adapter = load_adapter(model, options)
    used = resolve_device(device, uses_torch(adapter))
    settings.model = {"spec": model, "options": options, "device": used} | getattr(adapter, "provenance", {})
    kept = None
    if score_on_device or (score_on_device is None and used == "cuda"):
        from negaudio.eval.device_scoring import DeviceMaps

        kept = DeviceMaps(used)
    if other is not None:
        check_files(other)  # before the first maps replace any: a missing file of BUILD2 costs nothing
    read = {Path(p).resolve() for p in (settings.calibration, settings.save_calibration) if p is not None}
    path = output / MODEL_MAPS
    maps = run_model(
        build,
        adapter,
        model,
        path,
        settings.batch,
        used,
        settings.progress,
        None if kept is None else kept.add,
        lambda: retire_report(output, read),  # the earlier report goes before its maps do
    )
    if other is not None:
        path = output / CALIBRATION_MAPS
        settings.calibration_predictions = [
            run_model(other, adapter, model, path, settings.batch, used, settings.progress)
        ]
    return score(Path(build_dir), [maps], output, settings, kept)
