"""Versioned manifests: the record schema, the merge into ``manifest.jsonl`` and ``build.json``, the reader,
verification and summaries."""
