"""The `mlmon` command. Subcommands are contributed by packages through the ``mlmon.commands`` entry-point
group (see pyproject.toml): the core's own (register, train, replay, check-config, …), each service's
(serve, stats, drift) and the demo's. So the core knows none of the services, `mlmon --help` imports no
heavy library, and a user mistake (bad setting, spec or data file) prints one line and exits 2.

An entry point names a function ``add(subparsers)`` that adds one subcommand and sets its ``handler``
(``handler(args) -> exit code``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from mlmon.errors import MlmonError

COMMAND_GROUP = "mlmon.commands"
Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlmon", description="Symptom-first monitoring for ML services (outputs first, then inputs)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        point.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except MlmonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
