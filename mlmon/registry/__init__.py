"""The model registry: register a model version trained anywhere, and read what a version holds."""
