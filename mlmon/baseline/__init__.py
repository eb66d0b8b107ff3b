"""Training baseline: the profile derived from the Feast saved dataset, and access to that dataset."""
