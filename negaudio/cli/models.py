"""``negaudio models``: the model zoo, with the checkpoint each model loads and where its authors published it."""

from __future__ import annotations

from rich.markup import escape

from negaudio.cli.common import out


def models_command() -> None:
    """List the zoo models (--model NAME --checkpoint FILE): input, map, checkpoint layout, where to get it."""
    from negaudio.eval.models.adapter import frontend_text
    from negaudio.eval.models.registry import ZOO
    from negaudio.eval.paper_calibrations import PAPER

    out.print("negaudio eval BUILD --model NAME --checkpoint FILE [--compat vssl_eval] (docs/models.md)")
    for name, m in ZOO.items():
        out.print(f"\n[bold]{name}[/]  {escape(m.title)}")
        rows = {
            "input": frontend_text(m, "none"),
            "map": m.map,
            "checkpoint": m.checkpoint,
            "published": m.published,
            "calibration": f"--calibration paper:{name}" if name in PAPER else "-",
        }
        for key, value in rows.items():
            out.print(f"  {key:<11} {escape(value)}", highlight=False)
    out.print(
        "\nObject-guided maps (any model): --model-opt ogl=FILE with torchvision's ImageNet ResNet-18 checkpoint "
        "(resnet18-f37072fd.pth) [--model-opt ogl_alpha=0.4]"
    )
