"""The exported JSON Schemas in docs/ are the ones the code produces."""

from __future__ import annotations

import json
from pathlib import Path

from negaudio.manifest import manifest_json_schema
from negaudio.recipe.models import recipe_json_schema

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schema"


def test_exported_schemas_are_current():
    assert json.loads((DOCS / "recipe.schema.json").read_text()) == recipe_json_schema(), (
        "regenerate: negaudio schema recipe > docs/schema/recipe.schema.json"
    )
    assert json.loads((DOCS / "manifest.schema.json").read_text()) == manifest_json_schema(), (
        "regenerate: negaudio schema manifest > docs/schema/manifest.schema.json"
    )
