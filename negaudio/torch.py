"""PyTorch access to a build, or to its Hugging Face export: a map-style ``Dataset`` of items and a ``collate``
for batches of different lengths and sizes (docs/loading.md).

Needs torch (``pip install 'negaudio[torch]'``); ``import negaudio`` never imports it, this module does.

Each item is a dict:

- ``image``: float32 [3, H, W] in [0, 1] (RGB);
- ``audio``: float32 [channels, samples], the decoded file;
- ``mask``: float32 [H, W] in [0, 1], the ground truth, or None for an item without regions;
- ``sample_rate``: int;
- ``record``: the item's metadata as a plain dict: from a build, the manifest row (``plain_json`` of the
  :class:`~negaudio.manifest.ManifestRecord`); from an export, the row's columns other than the media, with
  ``params``, ``rendered`` and ``composite`` decoded from JSON. Both have ``item_id``, ``sample_id``, ``group``,
  ``kind``, ``name``, ``label``, ``heard_label``, ``image_classes``, ``regions``, ``params``, ``rendered``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from negaudio.core.errors import InputError
from negaudio.core.extras import require
from negaudio.manifest.reader import FILTER_FIELDS, Build, criteria, matches
from negaudio.manifest.schema import plain_json
from negaudio.manifest.writer import BUILD_INFO
from negaudio.media.images import open_image

torch = require("torch", "torch", "negaudio.torch")

MEDIA_COLUMNS = ("audio", "image", "mask")
JSON_COLUMNS = ("params", "rendered", "composite")


class _BuildItems:
    """The items of a build (or of a filtered view of it), their records read in one pass of the manifest."""

    def __init__(self, build: Build):
        self.build = build
        self.records = list(build)

    def __len__(self) -> int:
        return len(self.records)

    def get(self, index: int) -> tuple:
        build, record = self.build, self.records[index]
        audio = build.load_audio(record)
        return build.load_image(record), audio, build.load_mask(record), record.audio.sample_rate, plain_json(record)


class _ExportItems:
    """The rows of an exported build loaded by ``datasets``; media decoded from their bytes (soundfile for the
    audio, so neither torchcodec nor FFmpeg is needed; images through the pixel-limit-checked opener)."""

    def __init__(self, dataset, where: object, **given):
        import datasets

        for column in MEDIA_COLUMNS:
            feature = datasets.Audio(decode=False) if column == "audio" else datasets.Image(decode=False)
            dataset = dataset.cast_column(column, feature)
        self.dataset = dataset
        keys = dataset.select_columns(list(FILTER_FIELDS)).to_dict()
        rows = [SimpleNamespace(**{f: keys[f][i] for f in FILTER_FIELDS}) for i in range(len(dataset))]
        known = {f: keys[f] for f in FILTER_FIELDS}
        where = criteria(known, where, **given)
        self.rows = [i for i, row in enumerate(rows) if matches(where, row)]

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, index: int) -> tuple:
        import soundfile as sf

        row = self.dataset[self.rows[index]]
        item_id = row["item_id"]
        wave, rate = sf.read(io.BytesIO(_bytes(row, "audio")), dtype="float32", always_2d=True)
        with open_image(io.BytesIO(_bytes(row, "image")), f"item {item_id!r}: image") as im:
            image = np.array(im.convert("RGB"), dtype=np.uint8)
        mask = None
        if row["mask"] is not None:
            with open_image(io.BytesIO(_bytes(row, "mask")), f"item {item_id!r}: mask") as im:
                mask = np.asarray(im.convert("L"), dtype=np.float32) / row["mask_scale"]
        record = {k: v for k, v in row.items() if k not in MEDIA_COLUMNS}
        for k in JSON_COLUMNS:
            if record.get(k) is not None:
                record[k] = json.loads(record[k])
        return image, wave.T, mask, int(rate), record


def _bytes(row: dict, column: str) -> bytes:
    data = row[column].get("bytes")
    if data is None:
        raise InputError(f"item {row['item_id']!r}: the {column} column holds no bytes (not a negaudio export?)")
    return data


def _open_source(source, given: dict):
    if isinstance(source, Build):
        return _BuildItems(source.filter(**given))
    if isinstance(source, str | Path):
        folder = Path(source)
        if (folder / BUILD_INFO).is_file() or not folder.is_dir():
            return _open_source(Build(folder), given)
        from negaudio.export.hub import is_export

        if not is_export(folder):
            raise InputError(f"{folder}: neither a negaudio build ({BUILD_INFO}) nor a negaudio export")
        try:
            import datasets
        except ImportError:
            raise InputError(f"{folder}: reading an export needs the datasets package: pip install datasets") from None
        return _ExportItems(datasets.load_dataset(str(folder), split="test"), folder, **given)
    if hasattr(source, "cast_column") and hasattr(source, "keys"):  # a DatasetDict: an export has one split
        if len(source) != 1:
            raise InputError(f"the dataset has the splits {', '.join(source)}: pass one, e.g. dataset['test']")
        source = next(iter(source.values()))
    if hasattr(source, "cast_column") and hasattr(source, "features"):
        return _ExportItems(source, "the dataset", **given)
    raise InputError(f"cannot read items from a {type(source).__name__}: give a build, its folder or an export")


class ItemDataset(torch.utils.data.Dataset):
    """The items of a build folder, a :class:`~negaudio.manifest.Build` (or a filtered view), an export folder
    (``negaudio export``) or a ``datasets.Dataset`` loaded from one, as dicts of tensors (module docstring).

    ``kind``, ``name``, ``group``: keep only the items whose kind, name and group are among those given (one value
    or a collection each), as :meth:`negaudio.manifest.Build.filter`; an unknown one is an error naming those held.
    Batch items with :func:`collate` (``DataLoader(ds, batch_size=8, collate_fn=collate)``).
    """

    def __init__(
        self,
        source,
        *,
        kind: str | Collection[str] | None = None,
        name: str | Collection[str] | None = None,
        group: str | Collection[str] | None = None,
    ):
        self.items = _open_source(source, {"kind": kind, "name": name, "group": group})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of {len(self)}")
        image, audio, mask, rate, record = self.items.get(index % len(self))
        return {
            "image": torch.from_numpy(image).permute(2, 0, 1).float().div_(255),
            "audio": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
            "mask": None if mask is None else torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)),
            "sample_rate": rate,
            "record": record,
        }


def collate(items: Sequence[dict]) -> dict:
    """A batch of :class:`ItemDataset` items, for ``DataLoader(..., collate_fn=collate)``:

    - ``audio``: float32 [B, channels, T], each waveform zero-padded at its end to the longest ``T``;
      ``lengths``: int64 [B], each waveform's own number of samples (a mixed channel count is an error);
    - ``image``: float32 [B, 3, H, W] when every image has the same size, else a list of [3, H, W] tensors
      (resizing would change the frame the masks and the scores live in, so it is left to the model);
    - ``mask``: alongside the images, float32 [B, H, W] with zeros for an item without a mask, else a list with
      None for those; ``has_mask``: bool [B], which items have one;
    - ``sample_rate``: int64 [B]; ``record``: the list of record dicts.
    """
    if not items:
        raise ValueError("collate: empty batch")
    waves = [it["audio"] for it in items]
    channels = {w.shape[0] for w in waves}
    if len(channels) > 1:
        raise ValueError(f"collate: items with {sorted(channels)} channels in one batch; filter by name or kind")
    lengths = torch.tensor([w.shape[1] for w in waves], dtype=torch.int64)
    audio = torch.zeros(len(waves), channels.pop(), int(lengths.max()), dtype=torch.float32)
    for i, w in enumerate(waves):
        audio[i, :, : w.shape[1]] = w
    images = [it["image"] for it in items]
    same = len({tuple(im.shape) for im in images}) == 1
    masks = [it["mask"] for it in items]
    if same:
        height, width = images[0].shape[1:]
        masks = torch.stack([torch.zeros(height, width) if m is None else m for m in masks])
    return {
        "image": torch.stack(images) if same else images,
        "audio": audio,
        "lengths": lengths,
        "mask": masks,
        "has_mask": torch.tensor([it["mask"] is not None for it in items]),
        "sample_rate": torch.tensor([it["sample_rate"] for it in items], dtype=torch.int64),
        "record": [it["record"] for it in items],
    }


__all__ = ["ItemDataset", "collate"]
