"""Optional dependencies (the extras of ``pip install 'negaudio[...]'``): imported on use, named when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from negaudio.core.errors import InputError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``; if it is not installed, an InputError (exit 2) naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{purpose} needs {module}: pip install 'negaudio[{extra}]'") from None
