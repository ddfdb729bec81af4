"""negaudio: negative-audio test sets and honest scoring for visual sound source localization."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("negaudio")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

SCHEMA_VERSION = "1.0"


def open_build(root):
    """Open a rendered build lazily: ``for record in open_build(path): ...`` (see :mod:`negaudio.manifest.core`)."""
    from negaudio.manifest.core import Build

    return Build(root)


__all__ = ["SCHEMA_VERSION", "__version__", "open_build"]
