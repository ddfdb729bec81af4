"""Scoring VSSL models on builds: metrics, thresholds, model adapters, reports."""
