"""Reading a finished build lazily: ``build.json``, typed manifest records, random access by item id, views
filtered by kind, name or group, samples, and the media of an item."""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
from collections.abc import Collection, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from negaudio.core.errors import InputError, without_addresses
from negaudio.core.files import MAX_LINE, bounded_lines
from negaudio.core.limits import MAX_MEDIA_BYTES
from negaudio.core.outputs import UNFINISHED
from negaudio.core.paths import inside
from negaudio.manifest.schema import BuildInfo, ManifestRecord
from negaudio.manifest.writer import BUILD_INFO, MANIFEST

if TYPE_CHECKING:
    import numpy as np

    from negaudio.manifest.samples import Sample

FILTER_FIELDS = ("kind", "name", "group")
# What decoding a damaged file raises: PIL (OSError incl. FileNotFoundError, SyntaxError, ValueError) and
# soundfile (SoundFileError is a RuntimeError).
DECODE_ERRORS = (OSError, RuntimeError, SyntaxError, ValueError)
Criteria = tuple[tuple[str, frozenset[str]], ...]
SHOW_KNOWN = 20


@cache
def _adapter(model=ManifestRecord):
    from pydantic import TypeAdapter

    return TypeAdapter(model)


def parse_record(line: str | bytes) -> ManifestRecord:
    """One manifest line validated into a :class:`ManifestRecord` (``ValueError`` when it is not one)."""
    return _adapter().validate_json(line)


def manifest_json_schema() -> dict:
    """JSON Schema of one manifest row."""
    return _adapter().json_schema()


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(map(str, first["loc"]))
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc)


def criteria(known: Mapping[str, Collection[str | None]], where: object, **given) -> Criteria:
    """Filter criteria checked against what a build holds: for each of ``kind``, ``name`` and ``group`` given (not
    None), one value or a collection of values, each among ``known[field]``; an unknown one is an InputError
    naming ``where`` and the known values."""
    out = []
    for field in FILTER_FIELDS:
        value = given.pop(field, None)
        if value is None:
            continue
        values = frozenset([value] if isinstance(value, str) else value)
        have = sorted(v for v in set(known[field]) if v is not None)
        unknown = sorted(map(str, values - set(have)))
        if not values or unknown:
            listed = ", ".join(have[:SHOW_KNOWN]) + (f", ... ({len(have)} in all)" if len(have) > SHOW_KNOWN else "")
            what = f"unknown {field} {', '.join(unknown)}" if unknown else f"an empty list of {field}s"
            raise InputError(f"{where}: {what}; the {field}s here: {listed or 'none'}")
        out.append((field, values))
    if given:
        raise TypeError(f"unknown filter field(s) {', '.join(sorted(given))}; filter by {', '.join(FILTER_FIELDS)}")
    return tuple(out)


def matches(where: Criteria, item) -> bool:
    """True when ``item`` (a record or anything with ``kind``, ``name``, ``group``) meets every criterion."""
    return all(getattr(item, field) in values for field, values in where)


class _Entry(NamedTuple):
    """Where a record's line starts in the (decompressed) manifest, and what a filter looks at."""

    offset: int
    kind: str
    name: str
    group: str | None


class ManifestRowError(InputError):
    """A manifest line that does not read as a record; ``detail`` names the line and its first error."""

    def __init__(self, manifest: Path, line_no: int, exc: ValueError):
        problem = f"invalid manifest row ({_first_error(exc)})"
        self.detail = f"line {line_no}: {problem}"
        super().__init__(f"{manifest}:{line_no}: {problem}")


class DamagedBuildInfo(InputError):
    """A build's build.json that no longer reads as one; ``detail`` says why."""

    def __init__(self, path: Path, detail: str):
        super().__init__(f"{path}: {detail}; the build is damaged")
        self.detail = detail


class Build:
    """A rendered build, read lazily: ``info`` (build.json), iteration over typed records, ``build[item_id]``,
    :meth:`filter` (a view of some items), :meth:`samples` and the media of an item (:meth:`load_audio`,
    :meth:`load_image`, :meth:`load_mask`). Every file is reached through :meth:`path`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        info = self.root / BUILD_INFO
        if not self.root.is_dir():
            what = (
                "is a file, not a build folder"
                if self.root.is_file()
                else "is not a folder"
                if self.root.exists()
                else "build folder not found"
            )
            raise InputError(f"{self.root}: {what}")
        if not info.is_file():
            unfinished = (self.root / UNFINISHED).is_file()
            hint = "; a build stopped before it finished: run the same build command again" if unfinished else ""
            raise InputError(f"{self.root}: not a finished negaudio build ({BUILD_INFO} not found{hint})")
        try:
            self.info = _adapter(BuildInfo).validate_json(info.read_bytes())
        except ValueError as exc:
            raise DamagedBuildInfo(info, f"not a negaudio build.json ({_first_error(exc)})") from None
        self.manifest = next((p for p in (self.root / MANIFEST, self.root / (MANIFEST + ".gz")) if p.is_file()), None)
        if self.manifest is None:
            raise InputError(f"{self.root}: {MANIFEST} not found")
        self._where: Criteria = ()
        self._index: dict[str, _Entry] = {}  # shared by the views of this build, filled once on first use
        self._real_dirs: dict[str, str] = {}  # real paths of the build's folders (``inside``)

    def __iter__(self) -> Iterator[ManifestRecord]:
        """The records in manifest order (those the view selects)."""
        return (r for r in self._records() if matches(self._where, r))

    def _records(self) -> Iterator[ManifestRecord]:
        for line_no, line in enumerate(self._text_lines(), start=1):
            try:
                record = parse_record(line)
            except ValueError as exc:
                raise ManifestRowError(self.manifest, line_no, exc) from None
            yield record

    def _text_lines(self) -> Iterator[str]:
        opener = gzip.open if self.manifest.suffix == ".gz" else open
        try:
            with opener(self.manifest, "rt", encoding="utf-8") as fh:
                yield from bounded_lines(fh, str(self.manifest))
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.manifest}: unreadable manifest ({exc})") from None

    def _entries(self) -> dict[str, _Entry]:
        """item id -> where its line starts, built in one pass on first use (each line validated)."""
        if not self._index:
            entries: dict[str, _Entry] = {}
            offset = 0
            try:
                with self._open_bytes() as fh:
                    for line_no, line in enumerate(bounded_lines(fh, str(self.manifest)), start=1):
                        try:
                            record = parse_record(line)
                        except ValueError as exc:
                            raise ManifestRowError(self.manifest, line_no, exc) from None
                        if record.item_id in entries:
                            raise InputError(f"{self.manifest}:{line_no}: item {record.item_id!r} appears twice")
                        entries[record.item_id] = _Entry(offset, record.kind, record.name, record.group)
                        offset += len(line)
            except (OSError, EOFError) as exc:
                raise InputError(f"{self.manifest}: unreadable manifest ({exc})") from None
            self._index.update(entries)
        return self._index

    def _open_bytes(self):
        return gzip.open(self.manifest, "rb") if self.manifest.suffix == ".gz" else open(self.manifest, "rb")

    def lines(self) -> Iterator[str]:
        """The manifest's lines, unparsed, split as iteration splits them (every line: a filtered view refuses);
        a line over the length limit or an unreadable file is an InputError."""
        if self._where:
            raise ValueError("lines() reads the whole build, not a filtered view")
        return self._text_lines()

    def __getitem__(self, item_id: str) -> ManifestRecord:
        """The record of ``item_id`` (KeyError naming it when the build, or this view, has no such item). The first
        call indexes the manifest; each lookup then reads one line."""
        if not isinstance(item_id, str):
            raise TypeError(
                f"a build is looked up by item id (a str), not by {type(item_id).__name__}: for its first records, "
                "use itertools.islice(build, n)"
            )
        entry = self._entries().get(item_id)
        if entry is None or not matches(self._where, entry):
            raise KeyError(f"no item {item_id!r} in {self.root}" + (" (in this filtered view)" if entry else ""))
        changed = f"{self.manifest}: item {item_id!r} is no longer where it was indexed; was the manifest changed?"
        try:
            with self._open_bytes() as fh:
                fh.seek(entry.offset)
                record = parse_record(fh.readline(MAX_LINE + 1))
        except (OSError, EOFError, ValueError) as exc:
            raise InputError(f"{changed} ({exc})") from None
        if record.item_id != item_id:
            raise InputError(changed)
        return record

    def __contains__(self, item_id: object) -> bool:
        entry = self._entries().get(item_id) if isinstance(item_id, str) else None
        return entry is not None and matches(self._where, entry)

    def __len__(self) -> int:
        """The number of items: build.json's count, or for a filtered view the items it selects."""
        if not self._where:
            return int(self.info["items"])
        return sum(matches(self._where, e) for e in self._entries().values())

    def item_ids(self) -> list[str]:
        """The ids of the items (those the view selects), in manifest order."""
        return [i for i, e in self._entries().items() if matches(self._where, e)]

    def filter(
        self,
        *,
        kind: str | Collection[str] | None = None,
        name: str | Collection[str] | None = None,
        group: str | Collection[str] | None = None,
    ) -> Build:
        """A view of the items whose kind, name and group are among those given (one value or a collection each;
        None: any); a filter of a view narrows it. A kind, name or group the build does not hold is an InputError
        naming those it holds. The view reads the same files: iteration, ``view[item_id]``, ``len``,
        :meth:`samples` and the loaders all apply it."""
        entries = self._entries().values()
        known = {f: {getattr(e, f) for e in entries} for f in FILTER_FIELDS}
        view = copy.copy(self)
        view._where = self._where + criteria(known, self.root, kind=kind, name=name, group=group)
        return view

    def samples(self) -> Iterator[Sample]:
        """The samples in manifest order: each positive with its other items by name (the grouping rule of
        :mod:`negaudio.manifest.samples`). On a filtered view, the samples whose positive's group is selected,
        each with the other items whose kind and name are selected; the positive always comes with its sample."""
        from negaudio.manifest.samples import group_samples

        by_sample = tuple((f, v) for f, v in self._where if f == "group")
        by_item = tuple((f, v) for f, v in self._where if f != "group")
        for sample in group_samples(self._records(), self.manifest):
            if matches(by_sample, sample.positive):
                if by_item:
                    sample.others = {n: r for n, r in sample.others.items() if matches(by_item, r)}
                yield sample

    def path(self, rel: str) -> Path:
        """A file of the build; a path that leaves the build folder (absolute, '..', or through a symbolic
        link) is refused, so a build from an untrusted source cannot make a reader touch other files."""
        return inside(self.root, rel, "manifest path", self._real_dirs)

    def damaged(self, record: ManifestRecord, rel: str, problem: str) -> InputError:
        """The error for one bad media file of the build."""
        return InputError(
            f"item {record.item_id!r}: {self.path(rel)} {problem}; the build is damaged: "
            f"run `negaudio verify {self.root}`"
        )

    def read_media(self, record: ManifestRecord, rel: str, read):
        """``read()`` of the item's file ``rel``; a missing or undecodable file is an InputError naming the item,
        the file and ``negaudio verify`` (a damaged build is bad input, never a traceback)."""
        try:
            return read()
        except DECODE_ERRORS as exc:
            if not self.path(rel).is_file():
                raise self.damaged(record, rel, "is missing") from None
            raise self.damaged(record, rel, f"is unreadable ({without_addresses(str(exc))})") from None

    def read_bytes(self, record: ManifestRecord, rel: str, digest: str | None) -> bytes:
        """The bytes of the item's file ``rel``, checked against ``digest`` (its sha256 in the manifest, when
        recorded): a file altered since the build is refused like a missing one, naming ``negaudio verify``."""
        data = self.read_media(record, rel, lambda: self._bounded_bytes(rel))
        if data is None:
            raise self.damaged(record, rel, f"is larger than any media file a build holds ({MAX_MEDIA_BYTES} bytes)")
        if digest is not None and hashlib.sha256(data).hexdigest() != digest:
            raise self.damaged(record, rel, "does not match its sha256 in the manifest")
        return data

    def _bounded_bytes(self, rel: str) -> bytes | None:
        """The file's bytes, or None when it is over MAX_MEDIA_BYTES (not read)."""
        with open(self.path(rel), "rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_MEDIA_BYTES:
                return None
            return fh.read()

    def load_audio(self, record: ManifestRecord):
        """The item's audio as float32 [channels, samples] (needs soundfile), its file checked (``read_bytes``)."""
        import soundfile as sf

        data = self.read_bytes(record, record.audio.path, record.audio.file_sha256)

        def read():
            samples, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
            return samples.T

        return self.read_media(record, record.audio.path, read)

    def open_image(self, record: ManifestRecord):
        """The item's image as a PIL image in RGB, its file checked (``read_bytes``), refused undecoded when over
        the pixel limit."""
        from negaudio.media.images import open_image

        data = self.read_bytes(record, record.image.path, record.image.sha256)

        def read():
            with open_image(io.BytesIO(data), record.image.path) as im:
                return im.convert("RGB")

        return self.read_media(record, record.image.path, read)

    def load_image(self, record: ManifestRecord) -> np.ndarray:
        """The item's image as uint8 [H, W, 3] (RGB)."""
        import numpy as np

        return np.array(self.open_image(record), dtype=np.uint8)

    def load_mask(self, record: ManifestRecord, binary: bool = False):
        """The ground-truth map as float32 [H, W] in [0, 1], or None when the item has no regions; with
        ``binary``, a mask of only 0 and 1 comes as bool. Its file is checked (``read_bytes``)."""
        if record.mask is None:
            return None
        from negaudio.media.masks import read_mask

        mask = record.mask
        data = self.read_bytes(record, mask.path, mask.file_sha256)
        return self.read_media(record, mask.path, lambda: read_mask(io.BytesIO(data), mask.scale, binary, mask.path))
