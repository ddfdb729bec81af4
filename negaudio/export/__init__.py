"""Sharing a build: the Hugging Face Hub layout (Parquet shards and a dataset card) and publishing it."""

from negaudio.export.hub import ALL_CONFIG, ExportResult, export

__all__ = ["ALL_CONFIG", "ExportResult", "export"]
