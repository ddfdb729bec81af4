"""Versioned manifests: the record schema, the merge into ``manifest.jsonl`` and ``build.json``, the reader
(records, views filtered by kind, name or group, samples: :mod:`negaudio.manifest.samples`), verification and
summaries."""

from negaudio.manifest.reader import Build, manifest_json_schema, parse_record
from negaudio.manifest.schema import ManifestRecord
from negaudio.manifest.writer import BUILD_INFO, FAILURES, MANIFEST

__all__ = ["BUILD_INFO", "FAILURES", "MANIFEST", "Build", "ManifestRecord", "manifest_json_schema", "parse_record"]
