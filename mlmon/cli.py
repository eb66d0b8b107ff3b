"""The `mlmon` command: demo, train, serve, stats, drift, replay, check-config.

Each subcommand imports its service lazily, so `mlmon --help` is instant and a user mistake (bad setting,
spec or data file) prints one clear message and exits 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mlmon.errors import ConfigError, MlmonError
from mlmon.logs import configure_logging
from mlmon.settings import (
    CommonSettings,
    DriftSettings,
    ModelServerSettings,
    StatsSettings,
    load_settings,
)

Handler = Callable[[argparse.Namespace], int]


def _cmd_check_config(args: argparse.Namespace) -> int:
    from mlmon.checks import check_config

    problems = check_config()
    if not problems:
        print("configuration OK")
        return 0
    print(f"{len(problems)} problem(s) found:", file=sys.stderr)
    for location, message in problems:
        print(f"  - {location}: {message}", file=sys.stderr)
    return 1


def _cmd_train(args: argparse.Namespace) -> int:
    from mlmon.baseline.profile import summary_lines
    from mlmon.spec import load_spec
    from mlmon.training.train import train

    settings = load_settings(CommonSettings)
    configure_logging(settings.log_level)
    spec = load_spec(settings.model_spec)
    print(f"training {spec.model} from Feast repo {settings.feast_repo} ...", flush=True)
    result = train(
        spec,
        settings.feast_repo,
        settings.model_path,
        rows=args.rows,
        seed=args.seed,
        variant=args.variant,
        set_current=not args.no_activate,
    )
    for note in result.notes:
        print(f"  ({note})")
    print(f"model {result.model} version {result.version} -> {result.path}" + (" (unchanged)" if result.reused else ""))
    print(
        f"  training rows {result.rows} (Feast dropped {result.dropped_rows} outside the TTL), "
        f"holdout {result.holdout_rows}, saved dataset {result.saved_dataset}"
    )
    print("  holdout metrics: " + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items()))
    print("\n".join(summary_lines(result.profile)))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from model_server.__main__ import serve

    settings = load_settings(ModelServerSettings)
    configure_logging(settings.log_level)
    serve(settings)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from stats_service.__main__ import run

    settings = load_settings(StatsSettings)
    configure_logging(settings.log_level)
    return run(settings, once=args.once)


def _cmd_drift(args: argparse.Namespace) -> int:
    from drift_detector.__main__ import run

    settings = load_settings(DriftSettings)
    configure_logging(settings.log_level)
    return run(settings, once=args.once)


def _cmd_replay(args: argparse.Namespace) -> int:
    from mlmon.replay.cli import run_replay

    return run_replay(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from mlmon.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlmon", description="Symptom-first monitoring for ML services (outputs first, then inputs)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole embedded stack end to end and inject a fault")
    demo.add_argument("--scenario", default="unit-change", help="fault scenario to inject (default unit-change)")
    demo.add_argument("--workdir", type=Path, default=Path("var/demo"), help="where the demo keeps its state")
    demo.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    demo.set_defaults(handler=_cmd_demo)

    train = sub.add_parser("train", help="train the model from Feast features and save its baseline")
    train.add_argument("--rows", type=int, default=20_000, help="demo rows to generate when the repo has none")
    train.add_argument("--seed", type=int, default=7, help="seed of the demo data generator")
    train.add_argument(
        "--variant",
        choices=["standard", "degraded"],
        default="standard",
        help="'degraded' reproduces a silent training bug (for the bad-retrain scenario)",
    )
    train.add_argument("--no-activate", action="store_true", help="do not make this version the serving one")
    train.set_defaults(handler=_cmd_train)

    serve = sub.add_parser("serve", help="run the model server (FastAPI)")
    serve.set_defaults(handler=_cmd_serve)

    for name, helptext, handler in (
        ("stats", "run the statistics service (window statistics, traffic, evaluation, SLOs)", _cmd_stats),
        ("drift", "run the drift detector against the Feast baseline", _cmd_drift),
    ):
        job = sub.add_parser(name, help=helptext)
        job.add_argument("--once", action="store_true", help="run once, print a summary and exit")
        job.set_defaults(handler=handler)

    replay = sub.add_parser("replay", help="send demo traffic with an optional fault to a model server")
    replay.add_argument("--scenario", default="baseline", help="scenario name (see `mlmon replay --list`)")
    replay.add_argument("--list", action="store_true", help="list the scenarios and exit")
    replay.add_argument("--target", default="http://127.0.0.1:8000", help="model server base URL")
    replay.add_argument("--rate", type=float, default=50.0, help="requests per second")
    replay.add_argument("--duration", type=float, default=60.0, help="seconds to send for (bounded)")
    replay.add_argument("--seed", type=int, default=11, help="seed of the generated traffic")
    replay.add_argument("--feedback-delay", type=float, default=5.0, help="seconds before ground truth is sent")
    replay.add_argument("--no-feedback", action="store_true", help="do not send ground truth")
    replay.set_defaults(handler=_cmd_replay)

    check = sub.add_parser("check-config", help="validate settings and the model spec; list every problem")
    check.set_defaults(handler=_cmd_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MlmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
