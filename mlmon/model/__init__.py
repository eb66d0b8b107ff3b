"""Model artifacts: writing and loading trained models."""
