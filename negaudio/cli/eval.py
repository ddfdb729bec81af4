"""``negaudio eval``: score a predictions file or a model on a build and write the report folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from negaudio.cli.common import err, fail, interruptible, os_failure, out
from negaudio.cli.progress import ProgressReporter
from negaudio.core.errors import InputError, NegaudioError


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (values stay strings; adapters convert them)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--model-opt {pair!r}: expected KEY=VALUE")
        options[key] = value
    return options


def model_options(model: str | None, pairs: list[str], checkpoint: Path | None, compat: str | None) -> dict[str, str]:
    """--model-opt pairs with --checkpoint and --compat added as the adapter options of the same names."""
    options = parse_options(pairs)
    if (checkpoint is not None or compat is not None or pairs) and model is None:
        raise InputError("--checkpoint, --compat and --model-opt apply to --model: give the model they are for")
    for key, value in (("checkpoint", checkpoint), ("compat", compat)):
        if value is not None:
            if key in options:
                raise InputError(f"give --{key} or --model-opt {key}=..., not both")
            options[key] = str(value)
    return options


def _print_summary(report: dict, out_dir: Path) -> None:
    from negaudio.eval.report_md import (
        ci_note,
        console_lines,
        empty_positives_note,
        headline_label,
        no_gt_note,
        partial_note,
        unknown_note,
        with_ci,
    )

    label = headline_label(report)
    h = report["headline"]
    pos = h["positive"]
    out.print(
        f"positives @{label}: cIoU {with_ci(pos['success'])}, mIoU {with_ci(pos['miou'])}, AUC {with_ci(pos['auc'])}",
        highlight=False,
    )
    if h["negatives"]:
        table = Table(title=f"negatives @{label} (headline θ)")
        columns = ("negative", "mean pIA", "AUC-N", "pos-neg IoU", "excluded", "both empty", "separability")
        for column in columns:
            table.add_column(column, justify="left" if column == "negative" else "right")
        for name, e in h["negatives"].items():
            table.add_row(
                name,
                with_ci(e["pia"]),
                with_ci(e["auc_n"]),
                with_ci(e["posneg_iou"]),
                str(e["posneg_excluded"]),
                with_ci(e["both_empty"]),
                with_ci(e["separability"], percent=False),
            )
        out.print(table)
    out.print(escape(ci_note(report)), highlight=False)
    for line in console_lines(report):
        out.print(escape(line), highlight=False)
    if (report.get("model") or {}).get("compat"):
        err.print(f"note: {escape(report['model']['compat']['note'])}", highlight=False)
    if report["calibration"].get("in_sample"):
        err.print("note: universal thresholds calibrated in-sample (on this build): optimistic", highlight=False)
    if note := partial_note(report):
        err.print(escape(note))
    notes = (report["calibration"].get("model_note"), unknown_note(report), empty_positives_note(report))
    for note in (*notes, no_gt_note(report)):
        if note:
            err.print(f"note: {escape(note)}", highlight=False)
    out.print(f"report written to {escape(str(out_dir / 'report.md'))}")


def eval_command(
    build_dir: Annotated[Path, typer.Argument(metavar="BUILD", help="Build folder to score on.")],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Report folder: new, empty, or an earlier report's (whose files the new one replaces).",
        ),
    ],
    predictions: Annotated[
        list[Path] | None,
        typer.Option(
            "--predictions", metavar="<path>", help=".npz (item_id -> 2-D map) or a folder of them (repeatable)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A baseline (visual-prior, energy-gated, random, oracle), a zoo model (ezvsl, slavc, fnac, lvs, "
            "ssl-align, ssl-tie: see negaudio models), module:callable or file.py:callable."
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="The model's weights (a zoo model: the authors' released checkpoint).")
    ] = None,
    compat: Annotated[
        str | None,
        typer.Option(
            help="vssl_eval: reproduce the reference code's front-end bug (silence and noise skip the log/dB), "
            "to compare with published numbers; flagged in the report. Default: every item alike."
        ),
    ] = None,
    model_opt: Annotated[
        list[str] | None,
        typer.Option("--model-opt", metavar="<key=value>", help="KEY=VALUE passed to the adapter (repeatable)."),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<threshold>",
            help="Threshold (repeatable): a number, median, adaptive, max, max10, maxq3, maxq3_separate, "
            "pos_p25. Default: 0.5 median adaptive max max10 maxq3 maxq3_separate.",
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Universal thresholds from a saved calibration JSON, or paper:MODEL for the ones a paper hard-coded "
            "(paper:ezvsl, paper:slavc, ...: docs/models.md)."
        ),
    ] = None,
    calibrate_on: Annotated[
        str, typer.Option(help="'same' (this build: in-sample, optimistic) or another build folder.")
    ] = "same",
    calibration_predictions: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="<path>", help="With --predictions and --calibrate-on BUILD: the model's maps on that build."
        ),
    ] = None,
    save_calibration: Annotated[Path | None, typer.Option(help="Also write the calibration JSON here.")] = None,
    batch: Annotated[int, typer.Option(help="Items per model batch; samples per scoring batch.")] = 16,
    jobs: Annotated[
        int, typer.Option("-j", "--jobs", help="Scoring worker processes (the report is the same for any N).")
    ] = 1,
    device: Annotated[
        str, typer.Option(help="auto, cpu or cuda (torch adapters; on cuda the maps are scored there too).")
    ] = "auto",
    gallery: Annotated[int, typer.Option(help="Samples shown in gallery.png (0: none).")] = 4,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples for the headline's confidence intervals (0: none).")
    ] = 1000,
    bootstrap_seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    ci_level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
) -> None:
    """Score a model's maps on a build: positives, every negative type, thresholds with provenance, plots."""
    from negaudio.core.allocator import keep_freed_memory
    from negaudio.eval.pipeline import DEFAULT_THRESHOLDS
    from negaudio.eval.run import evaluate

    keep_freed_memory()  # this command's process reuses the engine's temporaries (its workers do it themselves)
    try:
        other = None if calibrate_on == "same" else Path(calibrate_on)
        if calibration is not None and other is not None:
            raise InputError("give --calibration FILE or --calibrate-on BUILD, not both")

        def kept() -> str:
            if not output.exists():
                return "no report was written"
            return f"{output} may hold a partial report; the same command can be run into it again"

        with interruptible(kept), ProgressReporter(err) as progress:
            report = evaluate(
                build_dir,
                output,
                predictions=predictions or None,
                model=model,
                model_options=model_options(model, model_opt or [], checkpoint, compat),
                device=device,
                thresholds=threshold or DEFAULT_THRESHOLDS,
                calibration=calibration,
                calibrate_on=other,
                calibration_predictions=calibration_predictions or (),
                save_calibration=save_calibration,
                batch=batch,
                jobs=jobs,
                gallery=gallery,
                bootstrap=bootstrap,
                bootstrap_seed=bootstrap_seed,
                ci_level=ci_level,
                progress=progress.update,
            )
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    _print_summary(report, output)
