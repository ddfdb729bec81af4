"""Recipes: their models, their YAML/TOML loading with located errors, and the bundled recipes."""
