"""Drift detector: output-first drift against the Feast training baseline."""
