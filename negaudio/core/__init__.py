"""The bottom layer: errors, file helpers, shared types and the cache. Imports nothing else of negaudio."""
