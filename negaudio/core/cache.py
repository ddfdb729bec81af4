"""Derived files (decoded masks, extracted frames and audio) in the negaudio cache, never in a source folder.

Entries are content-addressed (a digest of the input file's bytes and of the derivation's parameters), so the
same input gives the same path on every machine, and written atomically (temporary name, then rename).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.core.files import atomic_path
from negaudio.core.paths import check_relative

CACHE_REF = "cache:"


def cache_dir() -> Path:
    """The negaudio cache: ``$NEGAUDIO_CACHE`` or ``~/.cache/negaudio``."""
    return Path(os.environ.get("NEGAUDIO_CACHE") or Path.home() / ".cache" / "negaudio")


def in_cache(path: Path) -> bool:
    """Whether ``path`` is the negaudio cache or lies inside it (symbolic links resolved)."""
    cache, target = cache_dir().resolve(), Path(path).resolve()
    return target == cache or cache in target.parents


def cache_ref(path: Path) -> str:
    """How a plan names a cached file: ``cache:<path under the cache>``, the same on every machine."""
    return CACHE_REF + Path(path).relative_to(cache_dir()).as_posix()


def resolve_media(root: Path, rel: str, what: str = "media path") -> Path:
    """The file a plan path names: under the cache for a ``cache:`` reference, else under ``root``. Absolute
    paths and '..' are refused (:func:`negaudio.core.paths.check_relative`)."""
    if rel.startswith(CACHE_REF):
        return cache_dir() / check_relative(rel[len(CACHE_REF) :], what)
    return Path(root) / check_relative(rel, what)


def file_digest(path: Path, *params: object) -> str:
    """sha256 of a file's bytes followed by the text of ``params``."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    h.update(repr(params).encode())
    return h.hexdigest()


def entry(area: str, digest: str, name: str) -> Path:
    """The cache path of one derived file: ``<cache>/<area>/<digest[:2]>/<digest>/<name>``."""
    return cache_dir() / area / digest[:2] / digest / name


def ensure(path: Path, write: Callable[[Path], None]) -> Path:
    """``path``, written once by ``write(tmp)`` (same suffix) then renamed into place; kept when present."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(tmp)
    return path


STALE_S = 3600
"""Age after which a temporary folder of :func:`generate_once` is taken as left by a killed run (one takes
seconds)."""


def generate_once(root: Path, ready: Callable[[Path], bool], generate: Callable[[Path], None]) -> Path:
    """``root``, unless ``ready(root)`` made by ``generate(tmp)`` in a temporary sibling that is then renamed into
    place (a half-made folder never looks ready). In the cache, temporary siblings older than STALE_S and a
    half-made ``root`` are removed; elsewhere (a folder the user named) nothing is removed: a ``root`` that is
    neither ready nor empty is refused."""
    if ready(root):
        return root
    owned = in_cache(root)
    if not owned and root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(f"{root}: exists and is not a generated dataset folder; give a new or empty folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    for old in root.parent.glob(f"{glob.escape(root.name)}.*") if owned else ():
        with suppress(OSError):
            if old.is_dir() and not old.is_symlink() and time.time() - old.stat().st_mtime > STALE_S:
                shutil.rmtree(old)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    try:
        generate(tmp)
        if owned and root.is_dir() and not root.is_symlink():  # a half-made one
            shutil.rmtree(root)
        elif root.is_dir():  # the user's folder, empty (checked above)
            root.rmdir()
        tmp.replace(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
