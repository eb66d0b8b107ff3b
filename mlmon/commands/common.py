"""What every subcommand shares: settings from ``MLMON_*`` (overridden by flags) and logging set-up."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from mlmon.logs import configure_logging
from mlmon.settings import load_settings

S = TypeVar("S", bound=BaseSettings)
Subparsers = Any  # argparse's _SubParsersAction is private


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Flags that override the settings naming the model (each defaults to its MLMON_* variable)."""
    parser.add_argument("--spec", type=Path, help="model spec YAML (default: MLMON_MODEL_SPEC)")
    parser.add_argument("--feast-repo", type=Path, help="Feast repository (default: MLMON_FEAST_REPO)")
    parser.add_argument("--model-path", type=Path, help="registered model folder (default: MLMON_MODEL_PATH)")


def settings_for(cls: type[S], args: argparse.Namespace, **extra: Any) -> S:
    overrides = {
        key: value
        for key, value in {
            "model_spec": getattr(args, "spec", None),
            "feast_repo": getattr(args, "feast_repo", None),
            "model_path": getattr(args, "model_path", None),
            **extra,
        }.items()
        if value is not None
    }
    settings = load_settings(cls, **overrides)
    configure_logging(str(getattr(settings, "log_level", "INFO")))
    return settings
