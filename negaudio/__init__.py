"""negaudio: negative-audio test sets and honest scoring for visual sound source localization.

The library does what the command line does::

    import negaudio
    negaudio.plan("is3plus", "plan.jsonl")                 # negaudio plan is3plus -o plan.jsonl
    info = negaudio.build("is3plus", "demo-build")         # negaudio build is3plus -o demo-build
    report = negaudio.evaluate("demo-build", "eval-out", model="energy-gated")
    build = negaudio.open_build("demo-build")              # records, build[item_id], filter, samples, media
    for sample in build.filter(kind="silence").samples(): ...

PyTorch access (``negaudio[torch]``): :mod:`negaudio.torch`. See docs/loading.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("negaudio")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

SCHEMA_VERSION = "1.1"


def open_build(root):
    """Open a rendered build lazily (:class:`negaudio.manifest.Build`): ``for record in build``,
    ``build[item_id]``, ``build.filter(kind=..., name=..., group=...)``, ``build.samples()``, and
    ``build.load_audio``/``load_image``/``load_mask(record)`` for an item's media."""
    from negaudio.manifest import Build

    return Build(root)


def plan(recipe, output, **kwargs):
    """Write the plan of a recipe (file, bundled name or :class:`~negaudio.recipe.models.Recipe`) to ``output``;
    a bundled recipe gives its canonical plan. Keywords: ``source``, ``limit``, ``seed``, ``on_error``,
    ``canonical``, ``note``. See :func:`negaudio.builder.plan`."""
    from negaudio.builder import plan as run

    return run(recipe, output, **kwargs)


def build(recipe=None, output=None, **kwargs):
    """Plan and render a test set into ``output``; returns ``build.json``'s content. Keywords: ``plan_file``,
    ``source``, ``limit``, ``seed``, ``canonical``, ``options`` (:class:`negaudio.builder.BuildOptions`).
    See :func:`negaudio.builder.build`."""
    from negaudio.builder import build as run

    return run(recipe, output, **kwargs)


def evaluate(build_dir, output, *, predictions=None, model=None, model_options=None, device="auto", **config):
    """Score a predictions file (``predictions``: path or list of paths) or a model adapter (``model``: a
    built-in name or ``module:callable``) on a build; write the report folder ``output``; return the report.
    Other keywords go to :class:`negaudio.eval.pipeline.EvalConfig`. See :func:`negaudio.eval.run.evaluate`."""
    from negaudio.eval.run import evaluate as run

    return run(
        build_dir, output, predictions=predictions, model=model, model_options=model_options, device=device, **config
    )


__all__ = ["SCHEMA_VERSION", "__version__", "build", "evaluate", "open_build", "plan"]
