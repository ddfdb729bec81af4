"""``negaudio models``: the model zoo, with the checkpoint each model loads and where its authors published it."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from negaudio.cli.common import out


def models_command() -> None:
    """List the zoo models (--model NAME --checkpoint FILE): map, checkpoint layout, where to get the weights."""
    from negaudio.eval.models.registry import ZOO
    from negaudio.eval.paper_calibrations import PAPER

    table = Table(title="negaudio eval BUILD --model NAME --checkpoint FILE (docs/models.md)")
    for column in ("model", "map", "checkpoint it loads", "published at", "--calibration"):
        table.add_column(column)
    for name, m in ZOO.items():
        table.add_row(
            f"{name}\n{escape(m.title)}",
            escape(m.map),
            escape(m.checkpoint),
            escape(m.published),
            f"paper:{name}" if name in PAPER else "",
        )
    out.print(table)
    out.print(
        "Object-guided maps: --model-opt ogl=resnet18-f37072fd.pth (torchvision's ImageNet ResNet-18) "
        "[--model-opt ogl_alpha=0.4]"
    )
