"""`mlmon demo`: the embedded stack end to end on one machine, no Docker.

Current stage: trains the demo model from the Feast repo (when needed) and prints the model version, holdout
metrics and baseline summary. The end-to-end run (serve, replay a fault, detect, email) is added on top.
"""

from __future__ import annotations

import argparse

from mlmon.baseline.profile import summary_lines
from mlmon.logs import configure_logging
from mlmon.settings import CommonSettings, load_settings
from mlmon.spec import load_spec
from mlmon.training.train import train


def run_demo(args: argparse.Namespace) -> int:
    settings = load_settings(CommonSettings)
    configure_logging(settings.log_level)
    spec = load_spec(settings.model_spec)
    print(f"[demo] training {spec.model} from {settings.feast_repo} (Feast) ...", flush=True)
    result = train(spec, settings.feast_repo, settings.model_path)
    print(f"[demo] model version {result.version} ({result.path})")
    print("[demo] holdout metrics: " + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items()))
    print("\n".join(summary_lines(result.profile)))
    return 0
