"""Group a build's items into samples: one positive and its other items (by item name), streamed in order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from negaudio.core.errors import InputError
from negaudio.kinds import NEGATIVE, NOISY_POSITIVE, POSITIVE, role_of
from negaudio.manifest import Build, ManifestRecord


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


@dataclass
class BuildIndex:
    """What scoring needs to know before streaming: items (id -> name), types (name -> kind), sample count."""

    items: dict[str, str]
    types: dict[str, str]
    n_samples: int
    shared_groups: bool

    def negatives(self) -> list[str]:
        return [n for n, k in self.types.items() if role_of(k) == NEGATIVE]

    def noisy(self) -> list[str]:
        return [n for n, k in self.types.items() if role_of(k) == NOISY_POSITIVE]

    def kinds(self, kind: str) -> list[str]:
        return [n for n, k in self.types.items() if k == kind]


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


def iter_samples(build: Build) -> Iterator[Sample]:
    """Samples in manifest order; a sample's items must be consecutive (as ``negaudio build`` writes them)."""
    done: set[str] = set()
    current: str | None = None
    items: list[ManifestRecord] = []
    for record in build:
        if record.sample_id != current:
            if current is not None:
                yield _finish(current, items)
                done.add(current)
            if record.sample_id in done:
                raise InputError(f"{build.manifest}: the items of sample {record.sample_id!r} are not consecutive")
            current, items = record.sample_id, []
        items.append(record)
    if current is not None:
        yield _finish(current, items)


def index_build(build: Build) -> BuildIndex:
    """One pass over the manifest: item names by id, item types in order of first appearance, samples, groups."""
    items: dict[str, str] = {}
    types: dict[str, str] = {}
    groups: dict[str, int] = {}
    n = 0
    for sample in iter_samples(build):
        n += 1
        for r in sample.records():
            items[r.item_id] = r.name
            if types.setdefault(r.name, r.kind) != r.kind:
                raise InputError(f"item name {r.name!r} has two kinds: {types[r.name]} and {r.kind}")
        key = sample.positive.group or sample.sample_id
        groups[key] = groups.get(key, 0) + 1
    if n == 0:
        raise InputError(f"{build.root}: the build has no items")
    return BuildIndex(items, types, n, any(c > 1 for c in groups.values()))
