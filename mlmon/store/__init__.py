"""Inference store: one small interface (``base``), one module per backend (``sqlite``, ``elasticsearch``)."""
