"""``python -m bench`` runs every ``bench/*.py`` module with a ``main()``; ``python -m bench NAME …`` runs
only those. Exit status 1 when a benchmark raises (the others still run)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

SKIP = {"common", "__main__", "serving_apps", "wrk"}  # helpers of serving.py


def available() -> list[str]:
    here = Path(__file__).resolve().parent
    # listed by file name: importing every module here would run their imports before they are chosen
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in SKIP and not m.ispkg)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = available()
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: python -m bench [NAME ...]\navailable: {', '.join(names)}")
        return 0
    unknown = [a for a in argv if a not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    failed = []
    for name in argv or names:
        print(f"# running bench.{name}", flush=True)
        try:
            entry = getattr(importlib.import_module(f"bench.{name}"), "main", None)
            if not callable(entry):
                print(f"# bench.{name} has no main(): skipped")
                continue
            entry()
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
