"""Reading a finished build lazily: ``build.json`` and typed manifest records."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.core.files import bounded_lines
from negaudio.core.paths import inside
from negaudio.manifest.schema import BuildInfo, ManifestRecord
from negaudio.manifest.writer import BUILD_INFO, MANIFEST


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


class Build:
    """A rendered build, read lazily: ``info`` (build.json) and iteration over typed records."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        info = self.root / BUILD_INFO
        if not self.root.is_dir():
            raise InputError(f"{self.root}: build folder not found")
        if not info.is_file():
            raise InputError(f"{self.root}: not a finished negaudio build ({BUILD_INFO} not found)")
        try:
            self.info = _adapter(BuildInfo).validate_json(info.read_bytes())
        except ValueError as exc:
            raise InputError(f"{info}: not a negaudio build.json ({_first_error(exc)}); the build is damaged") from None
        self.manifest = next((p for p in (self.root / MANIFEST, self.root / (MANIFEST + ".gz")) if p.is_file()), None)
        if self.manifest is None:
            raise InputError(f"{self.root}: {MANIFEST} not found")

    def __iter__(self) -> Iterator[ManifestRecord]:
        opener = gzip.open if self.manifest.suffix == ".gz" else open
        with opener(self.manifest, "rt", encoding="utf-8") as fh:
            try:
                for line_no, line in enumerate(bounded_lines(fh, str(self.manifest)), start=1):
                    try:
                        record = parse_record(line)
                    except ValueError as exc:
                        raise InputError(f"{self.manifest}:{line_no}: invalid manifest row ({exc})") from None
                    yield record
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise InputError(f"{self.manifest}: unreadable manifest ({exc})") from None

    def __len__(self) -> int:
        return int(self.info["items"])

    def path(self, rel: str) -> Path:
        """A file of the build; a path that leaves the build folder (absolute, '..', or through a symbolic
        link) is refused, so a build from an untrusted source cannot make a reader touch other files."""
        return inside(self.root, rel, "manifest path")

    def load_audio(self, record: ManifestRecord):
        """The item's audio as float32 [channels, samples] (needs soundfile)."""
        import soundfile as sf

        data, _ = sf.read(self.path(record.audio.path), dtype="float32", always_2d=True)
        return data.T

    def load_mask(self, record: ManifestRecord):
        """The ground-truth map as float32 [H, W] in [0, 1], or None when the item has no regions."""
        if record.mask is None:
            return None
        from negaudio.media.masks import read_mask

        return read_mask(self.path(record.mask.path), record.mask.scale)
