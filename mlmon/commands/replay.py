"""`mlmon replay`: send rows of a file (or a registered scenario) to a model server, with delayed labels."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mlmon.commands.common import Subparsers


def add_replay(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "replay",
        help="send rows of a file (or a scenario) to a model server, with ground truth",
        description="Sends real requests to TARGET at --rate rows/s for --duration seconds (or until the file "
        "ends) and posts each row's label to TARGET/feedback after --feedback-delay seconds (needs "
        "MLMON_FEEDBACK_TOKEN). Exits 1 with the first error when more than --max-error-share of requests fail.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="from_file", type=Path, help="parquet or CSV file of rows")
    source.add_argument("--scenario", help="a registered scenario (see --list)")
    source.add_argument("--list", action="store_true", help="list the registered scenarios and exit")
    parser.add_argument("--target", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--route", default=None, help="prediction route (default: the spec's first route)")
    parser.add_argument("--label-column", help="column of the true labels (default: the spec's label column)")
    parser.add_argument("--shift", action="append", default=[], metavar="COL=NUMBER", help="what-if: add to COL")
    parser.add_argument("--scale", action="append", default=[], metavar="COL=NUMBER", help="what-if: multiply COL")
    parser.add_argument("--loop", action="store_true", help="start the file over at its end")
    parser.add_argument("--batch", type=int, default=None, help="rows per request (1: one object per request)")
    parser.add_argument("--rate", type=float, default=50.0, help="rows per second")
    parser.add_argument("--duration", type=float, default=None, help="seconds to send for (bounded)")
    parser.add_argument("--seed", type=int, default=11, help="seed of a scenario's generated rows")
    parser.add_argument("--feedback-delay", type=float, default=5.0, help="seconds before ground truth is sent")
    parser.add_argument("--no-feedback", action="store_true", help="do not send ground truth")
    parser.add_argument("--max-error-share", type=float, default=0.05, help="give up above this share of errors")
    parser.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from mlmon.errors import ConfigError
    from mlmon.replay.sources import FileRows, RowSource, WhatIf, get_scenario, registered_scenarios
    from mlmon.replay.traffic import ReplayStats, replay
    from mlmon.settings import CommonSettings, load_settings
    from mlmon.spec import ModelSpec, load_spec

    if args.list:
        for name, scenario in registered_scenarios().items():
            print(f"{name:<18} {scenario.description}")
        return 0
    settings = load_settings(CommonSettings)
    spec: ModelSpec | None = load_spec(settings.model_spec) if settings.model_spec.is_file() else None
    source: RowSource
    if args.from_file is not None:
        label = args.label_column or (spec.label.column if spec is not None else None)
        what_ifs = [WhatIf.parse(t, "shift") for t in args.shift] + [WhatIf.parse(t, "scale") for t in args.scale]
        rows = FileRows(args.from_file, spec=spec, label_column=label, what_ifs=what_ifs, loop=args.loop)
        duration = args.duration or (len(rows) / args.rate + 1.0 if not args.loop else 60.0)
        source = rows
    else:
        if args.shift or args.scale:
            raise ConfigError("--shift/--scale apply to --from FILE")
        duration = args.duration or 60.0
        source = get_scenario(args.scenario).rows(args.seed, max(1, int(args.rate * duration)))
    route = args.route or (spec.serving.routes[0] if spec is not None else "/predict")
    token = os.environ.get("MLMON_FEEDBACK_TOKEN")
    if not token and not args.no_feedback:
        print("note: MLMON_FEEDBACK_TOKEN is not set: the server will refuse the ground truth")

    def show(stats: ReplayStats) -> None:
        print(stats.line(), flush=True)

    stats = replay(
        args.target,
        source,
        rate=args.rate,
        duration=duration,
        route=route,
        feedback_token=token,
        feedback_delay=args.feedback_delay,
        send_feedback=not args.no_feedback,
        progress=show,
        max_batch=args.batch or (256 if route == "/predict" else 1),
        max_error_share=args.max_error_share,
    )
    print(f"done: {stats.sent} predictions, {stats.errors} errors, {stats.feedback_sent} labels sent")
    if stats.aborted or stats.sent == 0 or stats.error_share > args.max_error_share:
        print(f"error: {stats.error_share:.0%} of the rows failed; first: {stats.first_error}", file=sys.stderr)
        return 1
    return 0
