"""Names and relative paths that come from files (plans, manifests, annotations) are checked before any file
is opened or written with them: ids are single path components, paths stay under their root."""

from __future__ import annotations

import os
from pathlib import Path

from negaudio.core.errors import InputError

MAX_NAME = 255


def check_id(value: str, what: str) -> str:
    """An id used as a file name: one component (no '/', '\\' or NUL), not hidden, valid UTF-8, printable."""
    problem = None
    if not isinstance(value, str) or not value:
        problem = "must be a non-empty string"
    elif "/" in value or "\\" in value or "\x00" in value:
        problem = "must not contain '/', '\\' or NUL"
    elif value.startswith("."):
        problem = "must not start with '.'"
    elif len(value.encode("utf-8", "surrogatepass")) > MAX_NAME - 16:
        problem = f"is longer than {MAX_NAME - 16} bytes"
    elif not value.isprintable():
        problem = "must be printable text"
    else:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not valid UTF-8 (a file name with undecodable bytes)"
    if problem:
        raise InputError(f"{what} {value!r:.80} {problem}")
    return value


def check_relative(value: str, what: str) -> str:
    """A path relative to a root: not absolute, no '..' component, no NUL, valid UTF-8."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InputError(f"{what} {value!r:.80} is not a relative path")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} {value!r:.80} is not valid UTF-8 (a file name with undecodable bytes)") from None
    if value.startswith(("/", "\\")) or ".." in value.split("/") or ".." in value.split("\\"):
        raise InputError(f"{what} {value!r:.80} leaves its root (absolute, or with a '..' component)")
    return value


def inside(root: Path, rel: str, what: str, real_dirs: dict[str, str] | None = None) -> Path:
    """``root / rel`` for a checked relative path, refused when a symbolic link takes it out of ``root``
    (``real_dirs``: the real paths of folders resolved so far, a cache the caller keeps while the folders stay as
    they are; the path's own last component is looked at every time)."""
    check_relative(rel, what)
    path = Path(root) / rel
    cache = {} if real_dirs is None else real_dirs
    real_root = _real_folder(str(root), cache)
    name = str(path)
    if os.path.islink(name):
        real = os.path.realpath(name)
    else:
        real = os.path.join(_real_folder(os.path.dirname(name), cache), os.path.basename(name))
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise InputError(f"{what} {rel!r:.80} leaves {root} through a symbolic link")
    return path


def _real_folder(folder: str, cache: dict[str, str]) -> str:
    real = cache.get(folder)
    if real is None:
        real = cache[folder] = os.path.realpath(folder)
    return real
