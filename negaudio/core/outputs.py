"""Where a command may write what it makes: never into a build, never over files it did not write.

Builds are refused as targets by ``negaudio build`` itself; this module is the rule for everything else that
writes (eval reports, exports, comparisons, contact sheets).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from negaudio.core.errors import InputError

UNFINISHED = ".negaudio/state.json"
"""What a build folder holds from its plan's writing until its build.json is (a build under way or stopped)."""
BUILD_MARKERS = ("build.json", UNFINISHED)
"""A finished build holds build.json; one being built, its resume state."""


def enclosing_build(path: str | Path) -> Path | None:
    """The build folder that is ``path`` or holds it (symbolic links resolved), or None."""
    real = Path(os.path.realpath(path))
    for folder in (real, *real.parents):
        if any((folder / marker).is_file() for marker in BUILD_MARKERS):
            return folder
    return None


def refuse_inside_build(path: str | Path, what: str, shown: str | Path | None = None) -> None:
    """An InputError naming ``shown`` (default ``path``) when ``path`` (the ``what``, a noun, or the folder that
    would hold it) is a build or lies inside one (a build's files are listed in its SHA256SUMS; anything added
    breaks ``negaudio verify`` and a no-op rebuild)."""
    build = enclosing_build(path)
    if build is not None:
        where = "is a build" if build == Path(os.path.realpath(shown or path)) else f"is inside the build {build}"
        raise InputError(f"{shown or path}: {where}; write the {what} to a folder outside every build")


SHOW_NAMES = 3
"""Files a refused output folder's message names."""


def check_output_folder(output: str | Path, what: str, owned: Callable[[Path], bool]) -> None:
    """``output`` may receive the ``what`` (a noun: "report"): it is not a file, not in a build, and is absent,
    empty, or a folder that ``owned`` recognises as written by the same command before."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a folder; give a folder for the {what}")
    refuse_inside_build(output, what)
    if output.is_dir() and any(output.iterdir()) and not owned(output):
        names = sorted(p.name for p in output.iterdir())
        held = ", ".join(map(repr, names[:SHOW_NAMES]))  # quoted, control characters escaped
        if len(names) > SHOW_NAMES:
            held += f" and {len(names) - SHOW_NAMES} more"
        raise InputError(
            f"{output}: the folder is not empty (it holds {held}) and holds no earlier {what}; choose an empty or "
            "new folder"
        )
