"""Recipe + source -> plan: every random choice resolved once into typed rows, written as JSONL."""
