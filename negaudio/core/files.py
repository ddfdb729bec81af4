"""Atomic file writes: a uniquely named temporary in the target's folder, created exclusively, then renamed.

A reader never sees a half-written file, a kill leaves at most a ``.<name>.<random>.tmp`` beside the target,
and a file or link planted under a predictable temporary name is never opened.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from negaudio.core.errors import InputError

TMP_SUFFIX = ".tmp"
MAX_LINE = 1 << 24  # characters of one plan or manifest line


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_path(dest: Path, fsync: bool = False) -> Iterator[Path]:
    """A fresh temporary path beside ``dest`` (same suffix) to write to; renamed onto ``dest`` on success,
    removed on failure. ``fsync`` flushes the file and its folder: for the files that commit a build."""
    dest = Path(dest)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TMP_SUFFIX + dest.suffix, dir=dest.parent)
    except OSError as exc:  # name the file the user asked for, not the temporary
        raise OSError(exc.errno, exc.strerror, str(dest)) from None
    os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; a build is read by others as any file the user writes
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, dest)
        if fsync:
            _fsync(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(dest: Path, mode: str = "w", fsync: bool = False) -> Iterator[IO]:
    """``open(dest, mode)`` through :func:`atomic_path` (text modes are UTF-8)."""
    with atomic_path(dest, fsync) as tmp:
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh


def write_bytes(dest: Path, data: bytes | memoryview, fsync: bool = False) -> None:
    with atomic_open(dest, "wb", fsync) as fh:
        fh.write(data)


def write_text(dest: Path, text: str, fsync: bool = False) -> None:
    with atomic_open(dest, "w", fsync) as fh:
        fh.write(text)


def is_leftover(path: Path) -> bool:
    """A temporary that an interrupted :func:`atomic_path` left behind."""
    return path.name.startswith(".") and TMP_SUFFIX in path.name


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bounded_lines(fh, where: str, start: int = 1, limit: int | None = None) -> Iterator[str]:
    """The lines of a text stream, refusing one longer than ``limit`` characters (a plan or manifest line is
    a few kB; a longer one is damage or a decompression bomb, and is never held in memory)."""
    limit = limit or MAX_LINE
    line_no = start - 1
    while text := fh.readline(limit + 1):
        line_no += 1
        if len(text) > limit:
            raise InputError(f"{where}:{line_no}: the line is longer than {limit} characters")
        yield text


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
