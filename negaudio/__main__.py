"""``python -m negaudio``: the command line."""

from negaudio.cli import app

app(prog_name="negaudio")
