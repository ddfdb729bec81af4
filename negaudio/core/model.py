"""The pydantic base of every declarative model (recipes, item kinds, source configs) and the slug rule."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
SLUG_RULE = "use lowercase letters, digits, '.', '_' and '-'"


class Strict(BaseModel):
    """Frozen, and unknown fields are errors (a typo in a recipe never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_slug(value: str | None) -> str | None:
    if value is not None and not SLUG.match(value):
        raise ValueError(SLUG_RULE)
    return value
