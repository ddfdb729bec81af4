"""Prediction files: ``.npz`` archives mapping item_id -> 2-D map; checks against a build; a streaming writer."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from isal.isal_zlib import crc32  # zlib's CRC-32 with ISA-L's carry-less multiplies: ~14x zlib's speed

from negaudio.core.errors import InputError
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
LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip local file header: signature, ..., name and extra lengths
HEAD_READ = 512  # bytes read at a member's start besides its name: local header, extra field, .npy header


NPY_VERSIONS = ((1, 0), (2, 0), (3, 0))
"""The .npy format versions numpy writes (3.0 differs from 2.0 only in the header text's encoding)."""


def _read_header(fh, item_id: str, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of a .npy header; an unknown format version or a damaged header is a
    ValueError saying so, whatever numpy's parser makes of it (a ValueError, SyntaxError or tokenize error)."""
    try:
        version = np.lib.format.read_magic(fh)
    except ValueError:
        raise ValueError("not a .npy array (a damaged file?)") from None
    if version not in NPY_VERSIONS:
        raise ValueError(f".npy format version {version[0]}.{version[1]}: numpy writes 1.0, 2.0 and 3.0 only")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = read_header(fh)
    except (EOFError, zlib.error, zipfile.BadZipFile):
        raise
    except Exception:  # numpy's parser of the header text
        raise ValueError("unparsable .npy header (a damaged file?)") from None
    if dtype.hasobject:
        raise ValueError("object arrays are not maps")
    return shape, fortran, dtype


def _check_shape(info: zipfile.ZipInfo, shape, dtype: np.dtype, item_id: str, path: Path) -> None:
    """Refuse a shape over the pixel limit, or a member whose declared size is not what its shape needs (a
    deflate bomb), before anything is decompressed."""
    if len(shape) != 2:
        raise InputError(f"{path}: item {item_id!r}: map must be 2-D [h, w], got shape {shape}")
    check_pixels(shape[1], shape[0], f"{path}: item {item_id!r}")
    if info.file_size > shape[0] * shape[1] * dtype.itemsize + NPY_HEADER_SLACK:
        raise InputError(f"{path}: item {item_id!r}: its archive entry is larger than a {shape} map; refused unread")


class _Archive:
    """One .npz: its zip directory, and an open file from which stored (uncompressed) members are read with
    ``pread`` straight into the array (deflated members are inflated through zipfile)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
            self.members = {i.filename[:-4]: i for i in self.zip.infolist() if i.filename.endswith(".npy")}
            self.fd = os.open(path, os.O_RDONLY)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: not a readable .npz file ({exc})") from None
        self._headers: dict[bytes, tuple] = {}

    def read(self, item_id: str, out: np.ndarray | None = None, verify: bool = False) -> np.ndarray:
        """The member's array, its header checked first (see ``_check_shape``); read straight into ``out`` (and
        ``out`` returned) when the member is stored with ``out``'s shape and dtype. With ``verify``, the member's
        bytes must have the CRC-32 the archive's directory lists (a damaged file is refused, not scored)."""
        info = self.members[item_id]
        if info.compress_type == zipfile.ZIP_STORED:
            shape, fortran, dtype, head, start = self._stored_header(info, item_id)
            _check_shape(info, shape, dtype, item_id, self.path)
            count = int(np.prod(shape))
            if len(head) + count * dtype.itemsize > info.file_size:
                raise ValueError(f"member holds fewer bytes than a {shape} {dtype} array")
            direct = (
                out is not None
                and (out.dtype, out.shape) == (dtype, tuple(shape))
                and out.flags.c_contiguous
                and not fortran
            )
            data = out.reshape(-1) if direct else np.empty(count, dtype=dtype)
            if os.preadv(self.fd, [memoryview(data).cast("B")], start) != data.nbytes:
                raise ValueError("the file ends inside the map")
            if verify:
                tail = info.file_size - len(head) - data.nbytes  # bytes after the array (none, as numpy writes)
                crc = crc32(data, crc32(head))
                if tail:
                    crc = crc32(os.pread(self.fd, tail, start + data.nbytes), crc)
                if crc != info.CRC:
                    raise ValueError("its bytes do not match the CRC-32 of the archive's directory (a damaged file)")
            if direct:
                return out
        else:
            with self.zip.open(info) as fh:
                shape, fortran, dtype = _read_header(fh, item_id, self.path)
                _check_shape(info, shape, dtype, item_id, self.path)
                count = int(np.prod(shape))
                raw = fh.read(count * dtype.itemsize)
                fh.read()  # to the member's end, where zipfile checks its CRC-32
            if len(raw) != count * dtype.itemsize:
                raise ValueError(f"member holds fewer bytes than a {shape} {dtype} array")
            data = np.frombuffer(raw, dtype=dtype, count=count)
        return data.reshape(shape[::-1]).T if fortran else data.reshape(shape)

    def _stored_header(self, info: zipfile.ZipInfo, item_id: str) -> tuple:
        """(shape, fortran order, dtype, the member's .npy header bytes, data offset in the file) of a stored .npy
        member, usually read with one ``pread`` of its local header and .npy header; a header text seen before
        (every map of one file usually has the same) is not parsed again."""
        head = os.pread(self.fd, HEAD_READ + len(info.filename), info.header_offset)
        if len(head) < LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
            raise ValueError("bad local file header")
        _, name_len, extra_len = LOCAL_HEADER.unpack_from(head)
        start = LOCAL_HEADER.size + name_len + extra_len
        if len(head) < start + 12:  # a long extra field: read past it
            head = os.pread(self.fd, start + HEAD_READ, info.header_offset)
        prefix = head[start : start + 12]
        if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
            raise ValueError("not a .npy member")
        size_bytes = 2 if prefix[6] == 1 else 4
        offset = 8 + size_bytes + int.from_bytes(prefix[8 : 8 + size_bytes], "little")
        if offset > min(info.file_size, NPY_HEADER_SLACK):
            raise ValueError("npy header runs past the member")
        key = head[start : start + offset]
        if len(key) < offset:  # a long header (many dimensions, padding): read it whole
            key = os.pread(self.fd, offset, info.header_offset + start)
        if key not in self._headers:
            self._headers[key] = _read_header(io.BytesIO(key), item_id, self.path)
        return (*self._headers[key], key, info.header_offset + start + offset)

    def digest(self) -> str:
        """sha256 of the archive's directory: per member, sorted by name, its name, size and CRC-32."""
        h = hashlib.sha256()
        for info in sorted(self.zip.infolist(), key=lambda i: i.filename):
            h.update(f"{info.filename}\t{info.file_size}\t{info.CRC:08x}\n".encode())
        return h.hexdigest()

    def close(self) -> None:
        self.zip.close()
        os.close(self.fd)


def not_finite(m: np.ndarray) -> str:
    """What makes a map that is not all finite so: "NaN" when it holds one, else "inf"."""
    return "NaN" if np.isnan(m).any() else "inf"


class Predictions:
    """Maps from one or more ``.npz`` files (or folders of them), read lazily by item id."""

    def __init__(self, paths: Sequence[str | Path]):
        self.files = expand_paths(paths)
        self._archives: list[_Archive] = []
        self._where: dict[str, int] = {}
        self._scratch: np.ndarray | None = None
        for i, path in enumerate(self.files):
            self._archives.append(_Archive(path))
            for key in self._archives[-1].members:
                if key in self._where:
                    raise InputError(f"item {key!r} has a map in both {self.files[self._where[key]]} and {path}")
                self._where[key] = i

    def item_ids(self) -> list[str]:
        """The ids of every map of the files, in file order."""
        return list(self._where)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._where

    def check_items(self, item_ids: Iterable[str]) -> list[str]:
        """Raise naming the files and the first build items without a map; return ids unknown to the build."""
        wanted = list(item_ids)
        known = set(wanted)
        unknown = [i for i in self._where if i not in known]
        missing = [i for i in wanted if i not in self._where]
        if missing:
            names = ", ".join(map(str, self.files))
            first = ", ".join(missing[:SHOW_IDS])
            other = ", ".join(unknown[:SHOW_IDS])
            also = f"; they hold {len(unknown)} map(s) of ids the build does not have (first: {other})"
            raise InputError(
                f"{names}: {len(missing)} of {len(wanted)} build items have no map (first: {first})"
                + (also if unknown else "")
            )
        return unknown

    def load(self, item_id: str, out: np.ndarray | None = None, verify: bool = False) -> np.ndarray:
        """The map of ``item_id`` as float32 [h, w]; reject other shapes and NaN/inf, naming item and file.
        A stored float32 map of ``out``'s shape is read into ``out`` (a float32 [h, w] buffer), which is returned.
        ``verify``: check the map's bytes against the CRC-32 the archive lists (the first read of a map)."""
        return self._checked(item_id, out, verify)[0]

    def load_with_max(
        self, item_id: str, out: np.ndarray | None = None, verify: bool = False
    ) -> tuple[np.ndarray, float]:
        """``load``, and the map's max (which its finiteness check takes anyway)."""
        return self._checked(item_id, out, verify)

    def maximum(self, item_id: str) -> float:
        """The max of the map of ``item_id``, checked as ``load`` checks it, CRC-32 included (read into a reused
        buffer)."""
        m, top = self._checked(item_id, self._scratch, verify=True)
        if m is not self._scratch and m.dtype == np.float32 and m.flags.c_contiguous and m.flags.writeable:
            self._scratch = m  # the next map of this shape and dtype is read into it
        return top

    def _checked(self, item_id: str, out: np.ndarray | None, verify: bool) -> tuple[np.ndarray, float]:
        path = self.files[self._where[item_id]]
        try:
            m = self._archives[self._where[item_id]].read(item_id, out, verify)
        except InputError:
            raise
        except zlib.error as exc:
            raise InputError(f"{path}: item {item_id!r}: unreadable map (damaged compressed data: {exc})") from None
        except zipfile.BadZipFile as exc:
            raise InputError(f"{path}: item {item_id!r}: unreadable map ({exc}: a damaged file)") from None
        except (ValueError, OSError, EOFError, struct.error, NotImplementedError, RuntimeError) as exc:
            # zipfile raises the last two for an unknown compression method and an encrypted member
            raise InputError(f"{path}: item {item_id!r}: unreadable map ({exc})") from None
        if m.ndim != 2:
            raise InputError(f"{path}: item {item_id!r}: map must be 2-D [h, w], got shape {m.shape}")
        if m.size == 0:
            raise InputError(f"{path}: item {item_id!r}: the map is empty (shape {m.shape})")
        if not (np.issubdtype(m.dtype, np.number) or m.dtype == bool) or np.iscomplexobj(m):
            raise InputError(f"{path}: item {item_id!r}: map must be real numeric, got dtype {m.dtype}")
        m = m.astype(np.float32, copy=False)
        top = m.max()
        if not (np.isfinite(top) and np.isfinite(m.min())):
            raise InputError(f"{path}: item {item_id!r}: map contains {not_finite(m)}")
        return m, float(top)

    def identity(self) -> list[dict]:
        """Every file's path and ``maps_sha256`` (:meth:`_Archive.digest`), for the report: with each map's CRC-32
        checked as it is first read, the digest names the maps scored, without a pass over the file's bytes."""
        return [{"path": str(p), "maps_sha256": a.digest()} for p, a in zip(self.files, self._archives, strict=True)]

    def close(self) -> None:
        for archive in self._archives:
            archive.close()


MODEL_MARK = b"maps of a negaudio eval --model run"
"""The zip comment of the maps file a ``--model`` run writes: what tells its maps from a user's own."""


def maps_comment(path: Path) -> bytes | None:
    """The zip comment of a maps file (who wrote it: ``MODEL_MARK`` for a model run's maps); None when the file
    is missing or not a zip archive."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.comment
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def model_maps(path: Path) -> bool:
    """Whether ``path`` is a maps file that a ``negaudio eval --model`` run wrote (its zip comment says so)."""
    return maps_comment(path) == MODEL_MARK


class PredictionWriter:
    """Write maps one by one into an ``.npz``, stored as ``numpy.savez`` stores them (deflate would save 10-30% of a
    float map's bytes for some 5 ms a 224x224 map), readable by ``numpy.load``; renamed into place on close, after
    ``before_replace()`` when given. ``comment``: the archive's zip comment (``MODEL_MARK`` for a model run's maps)."""

    def __init__(self, path: Path, comment: bytes = b"", before_replace: Callable[[], None] | None = None):
        self.path = Path(path)
        self.before_replace = before_replace
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._zip.comment = comment

    def add(self, item_id: str, m) -> None:
        m = np.asarray(m, dtype=np.float32)
        with self._zip.open(f"{item_id}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(m), allow_pickle=False)

    def close(self) -> None:
        self._zip.close()
        try:
            if self.before_replace is not None:
                self.before_replace()
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._tmp.replace(self.path)

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._zip.close()
            self._tmp.unlink(missing_ok=True)
