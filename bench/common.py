"""Shared helpers of the benchmarks: recording results with the context needed to compare runs."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def environment() -> dict[str, Any]:
    import numpy
    import pandas
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    cells = [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def record(name: str, payload: Mapping[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``<results_dir>/<name>.json`` (payload + environment) and print the payload's ``rows`` as a
    table. ``payload`` should hold ``rows`` (the figures, one dict per measurement, each with the
    reference figure and the ratio) and ``reference`` (what the figures are compared with)."""
    target = (results_dir or RESULTS) / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"name": name, **payload, "environment": environment()}
    target.write_text(json.dumps(document, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"\n== {name}: {payload.get('description', '')}", file=sys.stdout)
    if "reference" in payload:
        print(f"reference: {payload['reference']}")
    print(format_table(payload.get("rows", [])))
    for line in payload.get("notes", []):
        print(f"note: {line}")
    print(f"written: {target}")
    return target
