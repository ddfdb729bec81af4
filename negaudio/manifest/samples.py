"""The grouping rule of a build: one positive and its other items (by item name) make a sample, streamed in
manifest order. Eval scores samples; :meth:`negaudio.manifest.Build.samples` gives them to other code."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from negaudio.core.errors import InputError
from negaudio.kinds.base import POSITIVE
from negaudio.manifest.schema import ManifestRecord


@dataclass
class Sample:
    """A positive item and the other items of its sample, keyed by item name (``silence``, ``offscreen``, ...)."""

    positive: ManifestRecord
    others: dict[str, ManifestRecord] = field(default_factory=dict)

    @property
    def sample_id(self) -> str:
        return self.positive.sample_id

    @property
    def frame(self) -> tuple[int, int]:
        """(height, width) of the stored image: the frame every map of the sample is scored in."""
        return self.positive.image.height, self.positive.image.width

    def records(self) -> list[ManifestRecord]:
        return [self.positive, *self.others.values()]


def _finish(sample_id: str, items: list[ManifestRecord]) -> Sample:
    positives = [r for r in items if r.kind == POSITIVE]
    if len(positives) != 1:
        raise InputError(f"sample {sample_id!r}: expected one positive item, found {len(positives)}")
    sample = Sample(positives[0])
    for r in items:
        if r is sample.positive:
            continue
        if r.name in sample.others:
            raise InputError(f"sample {sample_id!r}: two items named {r.name!r}")
        if r.image.path != sample.positive.image.path:
            raise InputError(f"item {r.item_id!r}: its image differs from its positive's ({r.image.path})")
        sample.others[r.name] = r
    return sample


def group_samples(records: Iterable[ManifestRecord], where: object) -> Iterator[Sample]:
    """Samples of ``records`` in order; a sample's items must be consecutive (as ``negaudio build`` writes them).
    ``where`` names the manifest in errors."""
    done: set[str] = set()
    current: str | None = None
    items: list[ManifestRecord] = []
    for record in records:
        if record.sample_id != current:
            if current is not None:
                yield _finish(current, items)
                done.add(current)
            if record.sample_id in done:
                raise InputError(f"{where}: the items of sample {record.sample_id!r} are not consecutive")
            current, items = record.sample_id, []
        items.append(record)
    if current is not None:
        yield _finish(current, items)
