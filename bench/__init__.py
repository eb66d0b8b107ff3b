"""Benchmarks (not tests): ``python -m bench [name …]`` runs them and writes ``bench/results/<name>.json``."""
