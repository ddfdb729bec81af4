"""Griffe extension: the reStructuredText bits of negaudio's docstrings, read as Markdown.

A cross-reference role such as ``:class:`~negaudio.manifest.Build``` becomes a link to the object's API entry when
the site documents it, and its name in code otherwise; a paragraph ending in ``::`` (a literal block follows)
ends in ``:``.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj):`(~?)([\w.]+)`")
LITERAL_MARKER = re.compile(r"::(?=\n\s*\n)")


def _reference(match: re.Match) -> str:
    short, target = match[1], match[2]
    title = target.rsplit(".", 1)[-1] if short else target
    return f'<autoref identifier="{target}" optional><code>{title}</code></autoref>'


def markdown(text: str) -> str:
    return LITERAL_MARKER.sub(":", ROLE.sub(_reference, text))


class RstRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
