"""Score a PyTorch model on a negaudio build, in batches through ``negaudio.torch`` (needs ``negaudio[torch]``).

    .venv/bin/python examples/score_your_model_torch.py demo-build -o eval-mine-torch

``ItemDataset`` gives tensors (image [3, H, W] in [0, 1], audio [channels, samples]); ``collate`` pads the audio
of a batch to its longest clip (``lengths`` says how long each is) and stacks images of one size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import negaudio
from negaudio.core.errors import NegaudioError
from negaudio.eval.predictions import PredictionWriter
from negaudio.eval.report_md import with_ci
from negaudio.eval.run import claim_maps

MARK = b"maps of examples/score_your_model_torch.py"  # the maps file's zip comment: which maps a rerun may replace


def main(argv: list[str] | None = None) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from negaudio.torch import ItemDataset, collate

    class ToyModel(torch.nn.Module):
        """Brightness times loudness, on a 4x coarser grid: a stand-in for your model."""

        def forward(self, image, audio, lengths):
            frames = torch.arange(audio.shape[-1]) < lengths[:, None]  # ignore the padding
            power = (audio.square().sum(1) * frames).sum(1) / (lengths * audio.shape[1])
            loudness = (10 * power.sqrt()).clamp(max=1)
            return torch.nn.functional.avg_pool2d(image.mean(1, keepdim=True), 4)[:, 0] * loudness[:, None, None]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a negaudio build folder (e.g. demo-build)")
    parser.add_argument("-o", "--output", type=Path, default=Path("eval-mine-torch"), help="report folder")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    dataset = ItemDataset(args.build)
    predictions = args.output / "predictions.npz"
    claim_maps(args.output, predictions, MARK)  # new maps or this script's own; a folder of ours, not in a build

    model = ToyModel().eval()
    loader = DataLoader(dataset, batch_size=args.batch_size, collate_fn=collate)
    with torch.no_grad(), PredictionWriter(predictions, MARK) as maps:
        for batch in loader:
            for image, audio, lengths, records in same_size(batch):
                for record, m in zip(records, model(image, audio, lengths), strict=True):
                    maps.add(record["item_id"], m.numpy())
    report = negaudio.evaluate(args.build, args.output, predictions=predictions)
    h = report["headline"]
    print(f"@{h['threshold']} (percent, with the bootstrap interval): cIoU {with_ci(h['positive']['success'])}")
    for name, entry in h["negatives"].items():
        print(f"  {name}: mean pIA {with_ci(entry['pia'])}, pos-neg IoU {with_ci(entry['posneg_iou'])}")
    return report


def same_size(batch: dict) -> list[tuple]:
    """(images, audio, lengths, records) of one image size: the whole batch when collate stacked its images
    (they share a size), else each item on its own."""
    if not isinstance(batch["image"], list):
        return [(batch["image"], batch["audio"], batch["lengths"], batch["record"])]
    return [
        (image[None], batch["audio"][i : i + 1], batch["lengths"][i : i + 1], batch["record"][i : i + 1])
        for i, image in enumerate(batch["image"])
    ]


if __name__ == "__main__":
    try:
        main()
    except NegaudioError as exc:  # a wrong path, a damaged build: one line, as the command line says it
        sys.exit(print(f"error: {exc}", file=sys.stderr) or exc.exit_code)
