"""``negaudio compare``: one table of several evaluations of one build, with intervals and paired differences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from negaudio.cli.common import fail, os_failure, out
from negaudio.core.errors import InputError, NegaudioError
from negaudio.core.outputs import check_output_folder


def compare_command(
    eval_dirs: Annotated[
        list[Path], typer.Argument(metavar="EVAL_DIR", help="Evaluation folders written by negaudio eval.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the comparison (created).")],
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Row name of the baseline: its folder's name, with its parent when two names are alike "
            "(default: the first folder)."
        ),
    ] = None,
    allow_mixed_builds: Annotated[
        bool, typer.Option("--allow-mixed-builds", help="Compare evaluations of different builds (no Δ rows).")
    ] = False,
    bootstrap: Annotated[int, typer.Option(help="Resamples for the paired differences (0: none).")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    ci_level: Annotated[float, typer.Option(help="Confidence level of the difference intervals.")] = 0.95,
) -> None:
    """Compare models or checkpoints scored on the same build: headline metrics with intervals, paired bootstrap
    differences to a baseline row; Markdown, LaTeX (booktabs), CSV, JSON and one figure."""
    from negaudio.eval.compare import compare, markdown, write_comparison

    try:
        if not 0 < ci_level < 1:
            raise InputError(f"--ci-level must be in (0, 1), got {ci_level}")
        check_output_folder(output, "comparison", lambda folder: (folder / "compare.json").is_file())
        result = compare(eval_dirs, baseline, allow_mixed_builds, bootstrap, bootstrap_seed, ci_level)
        files = write_comparison(result, output)
    except NegaudioError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise os_failure(exc) from None
    out.print(escape(markdown(result)), highlight=False)
    out.print(f"written to {escape(str(output))}: {', '.join(files)}", highlight=False)
