"""`mlmon check-config`: list every configuration problem, one line each; exit 2 when there is one."""

from __future__ import annotations

import argparse
import sys

from mlmon.commands.common import Subparsers


def add_check_config(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "check-config",
        help="check settings, spec, Feast repo and registered model; list every problem",
        description="Checks every service's MLMON_* settings, the spec, the Feast repo against the spec (feature "
        "service, entity keys, label), and the registered model (loads, is of the spec's kind, scores one row).",
    )
    parser.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from mlmon.checks import check_config

    problems = check_config()
    if not problems:
        print("configuration OK")
        return 0
    for location, message in problems:
        print(f"{location}: {message}", file=sys.stderr)
    return 2
