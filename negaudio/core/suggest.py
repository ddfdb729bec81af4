"""The closest known name to a misspelt one, for error messages."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any


def did_you_mean(given: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to a misspelt ``given`` (empty when none is close)."""
    close = get_close_matches(str(given), list(choices), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close and close[0] != given else ""
