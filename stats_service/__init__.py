"""Statistics service: window statistics, traffic change, evaluation with delayed labels, SLOs."""
