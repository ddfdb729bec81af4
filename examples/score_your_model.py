"""Score your own model on a negaudio build: run it on every item, write its maps, evaluate, print the headline.

    .venv/bin/python examples/score_your_model.py demo-build -o eval-mine

The model here is a toy (bright pixels, scaled by how loud the sound is); put yours in ``my_model``. Any codebase
can do the same: all negaudio needs is an ``.npz`` file mapping each ``item_id`` to a 2-D map of any size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import negaudio
from negaudio.core.errors import NegaudioError
from negaudio.eval.predictions import PredictionWriter
from negaudio.eval.report_md import with_ci
from negaudio.eval.run import claim_maps


def my_model(image: np.ndarray, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A map [h, w] of where the sound comes from; here: brightness times loudness (silence paints nothing)."""
    brightness = image.astype(np.float32).mean(axis=2) / 255  # image: uint8 [H, W, 3]
    loudness = min(1.0, 10 * float(np.sqrt(np.mean(np.square(audio)))))  # audio: float32 [channels, samples]
    return brightness[::4, ::4] * loudness  # a coarser map is fine: eval resizes it to the image


MARK = b"maps of examples/score_your_model.py"  # the maps file's zip comment: which maps a rerun may replace


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a negaudio build folder (e.g. demo-build)")
    parser.add_argument("-o", "--output", type=Path, default=Path("eval-mine"), help="report folder")
    parser.add_argument("--predictions", type=Path, default=None, help="maps file (default: OUTPUT/predictions.npz)")
    args = parser.parse_args(argv)
    build = negaudio.open_build(args.build)
    predictions = args.predictions or args.output / "predictions.npz"
    claim_maps(args.output, predictions, MARK)  # new maps or this script's own; a folder of ours, not in a build
    with PredictionWriter(predictions, MARK) as maps:  # item_id -> 2-D map, written one by one
        for record in build:
            image, audio = build.load_image(record), build.load_audio(record)
            maps.add(record.item_id, my_model(image, audio, record.audio.sample_rate))
    print(f"{len(build)} maps written to {predictions}")

    report = negaudio.evaluate(args.build, args.output, predictions=predictions)  # = negaudio eval --predictions

    headline = report["headline"]
    print(f"headline threshold: {headline['threshold']} (percent, with the bootstrap interval)")
    for metric, entry in headline["positive"].items():
        print(f"  positive {metric}: {with_ci(entry)}")
    for name, entry in headline["negatives"].items():
        print(f"  {name}: mean pIA {with_ci(entry['pia'])}, pos-neg IoU {with_ci(entry['posneg_iou'])}")
    print(f"report: {args.output / 'report.md'}")
    return report


if __name__ == "__main__":
    try:
        main()
    except NegaudioError as exc:  # a wrong path, a damaged build: one line, as the command line says it
        sys.exit(print(f"error: {exc}", file=sys.stderr) or exc.exit_code)
