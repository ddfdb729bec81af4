"""The command-line reference page, generated from the Typer app each time the site is built.

Every command and sub-command of ``negaudio.cli.app`` (hidden ones aside) gets a section with its help text,
usage line and a table of its arguments and options, so a command added to the app appears without editing
the docs.
"""

from __future__ import annotations

import html
import re

import typer
import typer.main
from mkdocs.structure.files import File

PAGE = "reference/cli.md"
PROGRAM = "negaudio"
# Characters that Markdown or arithmatex would read as markup in help text; backticks are left as code.
MARKUP = re.compile(r"([\\*_\[\]$|])")


def text(value: str) -> str:
    """Help text shown as written."""
    return MARKUP.sub(r"\\\1", html.escape(value, quote=False))


def commands(command, ctx: typer.Context, path: tuple[str, ...]):
    """(path, command, context) of the command and, depth first, of every visible sub-command."""
    yield path, command, ctx
    list_commands = getattr(command, "list_commands", None)
    for name in list_commands(ctx) if list_commands else ():
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            yield from commands(sub, typer.Context(sub, info_name=name, parent=ctx), (*path, name))


def section(path: tuple[str, ...], command, ctx: typer.Context) -> str:
    name = " ".join(path)
    lines = [f"## `{name}`", ""]
    for paragraph in (command.help or "").strip().split("\n\n"):
        if paragraph:
            lines += [text(" ".join(paragraph.split())), ""]
    lines += ["```", " ".join((name, *command.collect_usage_pieces(ctx))), "```", ""]
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            flags, help_text = record
            rows.append(f"| `{flags}` | {text(' '.join(help_text.split()))} |")
    if rows:
        lines += ["| argument or option | description |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def cli_reference(app: typer.Typer) -> str:
    """The Markdown page: one section per command."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name=PROGRAM)
    parts = [
        "# Command line",
        "",
        f"Every `{PROGRAM}` command with its arguments and options, as `{PROGRAM} COMMAND -h` prints them. "
        "This page is generated from the command-line application when the documentation is built.",
        "",
    ]
    parts += [section(path, command, sub_ctx) for path, command, sub_ctx in commands(root, ctx, (PROGRAM,))]
    return "\n".join(parts)


def on_files(files, config, **kwargs):
    from negaudio.cli.app import app

    files.append(File.generated(config, PAGE, content=cli_reference(app)))
    return files
