"""The exported JSON Schemas in docs/ are the ones the code produces, and the documentation site builds."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from negaudio.manifest import manifest_json_schema
from negaudio.recipe.models import recipe_json_schema

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "schema"
HOOKS = ROOT / "docs" / "hooks"


def test_exported_schemas_are_current():
    assert json.loads((DOCS / "recipe.schema.json").read_text()) == recipe_json_schema(), (
        "regenerate: negaudio schema recipe > docs/schema/recipe.schema.json"
    )
    assert json.loads((DOCS / "manifest.schema.json").read_text()) == manifest_json_schema(), (
        "regenerate: negaudio schema manifest > docs/schema/manifest.schema.json"
    )


# --- the documentation site (mkdocs.yml) -----------------------------------------------------------------------


def _hook(name: str):
    pytest.importorskip("mkdocs", reason="the documentation tools are not installed (pip install '.[docs]')")
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with ``mkdocs build --strict``: a broken link or anchor, a nav entry without its file, an API
    object that no longer exists or a formula that does not render fails it (a page left out of the nav does not)."""
    pytest.importorskip("mkdocs", reason="the documentation tools are not installed (pip install '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_site_builds_without_anything_from_elsewhere(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 15
    external = re.compile(r"""<(?:script|link|img)\b[^>]*(?:src|href)=["'](?:https?:)?//""")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not external.search(text), f"{page.relative_to(site)} loads a file from another site"
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text


def test_formulas_render_as_mathml(site):
    for page in site.rglob("*.html"):
        assert 'class="arithmatex"' not in page.read_text(encoding="utf-8"), f"{page}: a formula was left as LaTeX"
    metrics = (site / "metrics.html").read_text(encoding="utf-8")
    assert metrics.count("<math ") >= 40
    assert (site / "protocols.html").read_text(encoding="utf-8").count("<math ") >= 15
    # the IoU formula of docs/metrics.md, as MathML: a sum over B_i G_i
    assert "<mo>&#x02211;</mo><msub><mi>B</mi><mi>i</mi></msub><msub><mi>G</mi><mi>i</mi></msub>" in metrics


def test_formula_that_does_not_convert_is_refused():
    mathml = _hook("mathml")
    assert mathml.to_mathml(r"\mathbb{1}[x \ge 0.5]", "inline").startswith("<math")
    with pytest.raises(ValueError, match=r"unknown command \\frobnicate"):
        mathml.to_mathml(r"\frobnicate{x}", "inline")
    with pytest.raises(ValueError):
        mathml.to_mathml("x^", "inline")


def test_cli_reference_lists_every_command_and_option(site):
    from negaudio.cli.app import app

    page = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    assert {"build", "plan", "eval", "verify", "schema"} <= set(names)
    for name in names:
        assert f'id="negaudio-{name}"' in page, f"negaudio {name} is missing from the CLI reference"
    for option in ("--allow-missing", "--on-error", "--predictions", "--bootstrap-seed", "--repo-id"):
        assert f"{option} " in page or f"{option}<" in page, option
    assert 'id="negaudio-schema-recipe"' in page


def test_cli_reference_follows_the_app():
    cli_reference = _hook("cli_reference")
    app = typer.Typer(help="Tool.")
    sub = typer.Typer(help="Sub-commands.")
    app.add_typer(sub, name="group")

    @app.command()
    def models(limit: int = typer.Option(3, help="How many models *at most* | per row.")) -> None:
        """List the models ($HOME is not a formula)."""

    @app.command(hidden=True)
    def secret() -> None:
        """Not for users."""

    @sub.command("leaf")
    def leaf(path: str = typer.Argument(..., help="A path.")) -> None:
        """A leaf command."""

    page = cli_reference.cli_reference(app)
    assert "## `negaudio models`" in page and "## `negaudio group leaf`" in page
    assert "secret" not in page
    assert "`--limit <int>`" in page
    assert r"How many models \*at most\* \| per row." in page
    assert r"List the models (\$HOME is not a formula)." in page
    assert "A path." in page


def test_docstring_roles_become_links_or_code():
    rst_roles = _hook("rst_roles")
    text = "Open it (see :mod:`negaudio.manifest`, :class:`~negaudio.manifest.Build`)::\n\n    negaudio.open_build(p)\n"
    assert rst_roles.markdown(text) == (
        'Open it (see <autoref identifier="negaudio.manifest" optional><code>negaudio.manifest</code></autoref>, '
        '<autoref identifier="negaudio.manifest.Build" optional><code>Build</code></autoref>):\n\n'
        "    negaudio.open_build(p)\n"
    )


def test_readme_links_point_to_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t]
    assert "docs/metrics.md" in local and "docs/index.md" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
