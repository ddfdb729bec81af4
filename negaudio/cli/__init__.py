"""The ``negaudio`` command line: a thin shell over the library."""

from negaudio.cli.app import app

__all__ = ["app"]
