"""Prediction files: ``.npz`` archives mapping item_id -> 2-D map; checks against a build; a streaming writer."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from negaudio.core.errors import InputError
from negaudio.core.files import file_sha256
from negaudio.core.limits import check_pixels

SHOW_IDS = 5


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given and the ``*.npz`` files of folders (sorted); each must exist."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.npz"))
            if not found:
                raise InputError(f"{p}: folder holds no .npz prediction file")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: prediction file not found")
    if not files:
        raise InputError("no prediction file given")
    return files


NPY_HEADER_SLACK = 1 << 16  # the .npy header (magic, dict, padding) is far below this


def check_member(archive: np.lib.npyio.NpzFile, item_id: str, path: Path) -> None:
    """Read one map's .npy header, not its data: refuse a shape over the pixel limit, or a member whose declared
    size is not what its shape needs (a deflate bomb), before anything is decompressed."""
    try:
        info = archive.zip.getinfo(f"{item_id}.npy")
        with archive.zip.open(info) as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: item {item_id!r}: unreadable map ({exc})") from None
    if len(shape) != 2:
        raise InputError(f"{path}: item {item_id!r}: map must be 2-D [h, w], got shape {shape}")
    check_pixels(shape[1], shape[0], f"{path}: item {item_id!r}")
    if info.file_size > shape[0] * shape[1] * dtype.itemsize + NPY_HEADER_SLACK:
        raise InputError(f"{path}: item {item_id!r}: its archive entry is larger than a {shape} map; refused unread")


class Predictions:
    """Maps from one or more ``.npz`` files (or folders of them), read lazily by item id."""

    def __init__(self, paths: Sequence[str | Path]):
        self.files = expand_paths(paths)
        self._archives = []
        self._where: dict[str, int] = {}
        for i, path in enumerate(self.files):
            try:
                archive = np.load(path, allow_pickle=False)
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise InputError(f"{path}: not a readable .npz file ({exc})") from None
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise InputError(f"{path}: expected an .npz archive (item_id -> 2-D map), got a single array")
            self._archives.append(archive)
            for key in archive.files:
                if key in self._where:
                    raise InputError(f"item {key!r} has a map in both {self.files[self._where[key]]} and {path}")
                self._where[key] = i

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._where

    def check_items(self, item_ids: Iterable[str]) -> list[str]:
        """Raise naming the files and the first build items without a map; return ids unknown to the build."""
        wanted = list(item_ids)
        missing = [i for i in wanted if i not in self._where]
        if missing:
            names = ", ".join(map(str, self.files))
            first = ", ".join(missing[:SHOW_IDS])
            raise InputError(f"{names}: {len(missing)} of {len(wanted)} build items have no map (first: {first})")
        known = set(wanted)
        return [i for i in self._where if i not in known]

    def load(self, item_id: str) -> np.ndarray:
        """The map of ``item_id`` as float32 [h, w]; reject other shapes and NaN/inf, naming item and file."""
        path = self.files[self._where[item_id]]
        archive = self._archives[self._where[item_id]]
        check_member(archive, item_id, path)
        try:
            m = archive[item_id]
        except ValueError as exc:
            raise InputError(f"{path}: item {item_id!r}: unreadable map ({exc})") from None
        if m.ndim != 2 or m.size == 0:
            raise InputError(f"{path}: item {item_id!r}: map must be 2-D [h, w], got shape {m.shape}")
        if not (np.issubdtype(m.dtype, np.number) or m.dtype == bool) or np.iscomplexobj(m):
            raise InputError(f"{path}: item {item_id!r}: map must be real numeric, got dtype {m.dtype}")
        m = m.astype(np.float32)
        if not np.isfinite(m).all():
            what = "NaN" if np.isnan(m).any() else "inf"
            raise InputError(f"{path}: item {item_id!r}: map contains {what}")
        return m

    def identity(self) -> list[dict]:
        """Path and sha256 of every file, for the report."""
        return [{"path": str(p), "sha256": file_sha256(p)} for p in self.files]

    def close(self) -> None:
        for archive in self._archives:
            archive.close()


class PredictionWriter:
    """Write maps one by one into an ``.npz`` (deflate), readable by ``numpy.load``; renamed into place on close."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def add(self, item_id: str, m) -> None:
        m = np.asarray(m, dtype=np.float32)
        with self._zip.open(f"{item_id}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(m), allow_pickle=False)

    def close(self) -> None:
        self._zip.close()
        self._tmp.replace(self.path)

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._zip.close()
            self._tmp.unlink(missing_ok=True)
