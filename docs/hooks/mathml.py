"""Formulas as MathML, made when the site is built.

pymdownx.arithmatex marks each ``$...$`` and ``$$...$$`` formula; this hook turns the marked LaTeX into MathML
with latex2mathml. Browsers display MathML natively, so the site loads no script or font from elsewhere, and a
formula that does not convert (or uses a command latex2mathml does not know) is a build warning.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")

# arithmatex's generic output: <span class="arithmatex">\(...\)</span> and <div class="arithmatex">\[...\]</div>
MARKED = re.compile(r'<(span|div) class="arithmatex">\\[(\[](.*?)\\[)\]]</\1>', re.DOTALL)
UNKNOWN_COMMAND = re.compile(r"<mi>(\\[A-Za-z]+)</mi>")


def to_mathml(tex: str, display: str) -> str:
    """MathML of one formula; ValueError when latex2mathml cannot convert it or leaves a command as text."""
    try:
        mathml = convert(tex, display=display)
    except Exception as exc:  # latex2mathml raises its own exception types for malformed input
        raise ValueError(f"{type(exc).__name__} {exc}".strip()) from None
    if unknown := UNKNOWN_COMMAND.search(mathml):
        raise ValueError(f"unknown command {unknown[1]}")
    return mathml


def on_page_content(html_text, page, **kwargs):
    def render(match: re.Match) -> str:
        display = "block" if match[1] == "div" else "inline"
        tex = html.unescape(match[2]).strip()
        try:
            mathml = to_mathml(tex, display)
        except ValueError as exc:
            log.warning("%s: formula %r does not render as MathML: %s", page.file.src_uri, tex, exc)
            return match[0]
        return f'<div class="math-block">{mathml}</div>' if display == "block" else mathml

    return MARKED.sub(render, html_text)
