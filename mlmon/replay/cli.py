"""The `mlmon replay` command."""

from __future__ import annotations

import argparse
import os
import sys

from mlmon.replay.scenarios import SCENARIOS, get_scenario
from mlmon.replay.traffic import ReplayStats, replay


def run_replay(args: argparse.Namespace) -> int:
    if args.list:
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<18} {scenario.description}")
        return 0
    try:
        scenario = get_scenario(args.scenario)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if scenario.model_variant != "standard":
        print(
            f"note: {scenario.name} expects the server to run a '{scenario.model_variant}' model "
            "(`mlmon train --variant degraded`, then restart `mlmon serve`); `mlmon demo` does this for you."
        )
    token = os.environ.get("MLMON_FEEDBACK_TOKEN")
    if not token and not args.no_feedback:
        print("note: MLMON_FEEDBACK_TOKEN is not set: ground truth will be refused by the server")

    def show(stats: ReplayStats) -> None:
        print(stats.line(), flush=True)

    stats = replay(
        args.target,
        scenario,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        feedback_token=token,
        feedback_delay=args.feedback_delay,
        send_feedback=not args.no_feedback,
        progress=show,
    )
    print(f"done: {stats.sent} predictions, {stats.errors} errors, {stats.feedback_sent} labels sent")
    return 0 if stats.sent > 0 else 1
