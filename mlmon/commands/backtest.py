"""`mlmon backtest --start --end --window`: what mlmon would have said over history, as HTML and JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlmon.commands.common import Subparsers, add_model_options, settings_for
from mlmon.errors import ConfigError

if TYPE_CHECKING:
    from mlmon.notify.base import Notifier
    from mlmon.notify.policy import Rules

BACKTEST_HELP = """\
Run the statistics and drift computations of a live run over consecutive past windows of the inference store
(load history first with `mlmon ingest`), apply the incident policy at each window's end as if live, and write
one self-contained HTML report and its JSON: the timeline of symptoms (evaluation metrics against their SLOs,
output drift, empty/fallback shares) and causes (input drift per feature and window, a heatmap), the incidents
that would have opened (when, kind, headline, how long), and incidents per month and per kind. No email is
sent unless --notify.

Settings are the services' MLMON_* settings; --set changes them for the backtest, and --compare (or
--compare-env FILE of MLMON_X=value lines) runs the same windows a second time with other values, so the
report puts two settings side by side (run A and run B), e.g.:

  mlmon backtest --start 2025-01-01 --end 2026-01-01 --window 1d --compare MLMON_ALPHA=0.01
  mlmon backtest --start 2025-03-01 --end 2025-04-01 --window 6h --set MLMON_CONSECUTIVE=1 \\
      --compare MLMON_CONSECUTIVE=3 --compare MLMON_NOTIFY_COOLDOWN_S=86400

Drift is computed from counts on the baseline's bins pushed down to the store (MLMON_EXACT_KS_MAX_ROWS=0 unless
set), so a year of daily windows reads counts, not rows.
"""
BACKTEST_DEFAULTS = {"exact_ks_max_rows": 0}


def add_backtest(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "backtest",
        help="replay the monitoring over a past range: incidents that would have opened, HTML + JSON report",
        description=BACKTEST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(parser)
    parser.add_argument("--start", required=True, metavar="TIME", help="first window's start (ISO 8601; UTC default)")
    parser.add_argument("--end", required=True, metavar="TIME", help="end of the range (exclusive)")
    parser.add_argument("--window", default="1d", help="window length, e.g. 1h, 6h, 1d (default 1d)")
    parser.add_argument("--set", action="append", default=[], metavar="MLMON_X=VALUE", help="a setting for run A")
    parser.add_argument("--compare", action="append", default=[], metavar="MLMON_X=VALUE", help="run B's change")
    parser.add_argument("--compare-env", type=Path, metavar="FILE", help="run B's changes, one MLMON_X=VALUE a line")
    parser.add_argument("--model-version", help="the registered version to compare with (default: CURRENT)")
    parser.add_argument("--out", type=Path, help="report path without suffix (default: <var_dir>/reports/backtest-…)")
    parser.add_argument("--notify", action="store_true", help="send the emails the incidents would have sent")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=_backtest)


def _setting_names() -> set[str]:
    from mlmon.settings import DriftSettings, StatsSettings

    return set(StatsSettings.model_fields) | set(DriftSettings.model_fields)


def parse_assignments(items: list[str], source: str) -> dict[str, str]:
    """``MLMON_ALPHA=0.01`` (or ``alpha=0.01``) → ``{"alpha": "0.01"}``; unknown names are one clear error."""
    known = _setting_names()
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        key = name.strip().lower().removeprefix("mlmon_")
        if not sep or not key:
            raise ConfigError(f"{source} {item!r}: write it like MLMON_ALPHA=0.01")
        if key not in known:
            raise ConfigError(f"{source} {item!r}: MLMON_{key.upper()} is not a setting of the stats or drift service")
        out[key] = value.strip()
    return out


def read_env_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"--compare-env {path}: cannot read ({exc.strerror})") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _check(overrides: dict[str, Any]) -> tuple[Rules, str | None]:
    """Validate the settings both services would build (one ConfigError naming each bad MLMON_* value);
    returns the notification rules (cooldown, digest, input shifts) and the SMTP host of these settings."""
    from mlmon.notify.tracker import rules_from
    from mlmon.settings import DriftSettings, StatsSettings, load_settings

    load_settings(DriftSettings, **overrides)
    stats = load_settings(StatsSettings, **overrides)
    return rules_from(stats), stats.smtp_host


def _backtest(args: argparse.Namespace) -> int:
    import tempfile

    from mlmon.history import report, report_html
    from mlmon.history.backtest import run_backtest
    from mlmon.history.dry_store import DryStore
    from mlmon.history.outcome import window_job_factories
    from mlmon.history.progress import Progress
    from mlmon.history.windows import WindowPlan, parse_range
    from mlmon.registry.artifact import read_registered
    from mlmon.settings import CommonSettings
    from mlmon.spec import load_spec
    from mlmon.store.factory import open_store

    plan = WindowPlan.of(parse_range(args.start, args.end), args.window)
    settings = settings_for(CommonSettings, args)
    spec = load_spec(settings.model_spec)
    flags = {k: v for k, v in {"model_spec": args.spec, "model_path": args.model_path}.items() if v is not None}
    run_a = {**BACKTEST_DEFAULTS, **flags, **parse_assignments(args.set, "--set")}
    changes = parse_assignments(args.compare, "--compare")
    if args.compare_env is not None:
        changes = {**parse_assignments(read_env_file(args.compare_env), f"--compare-env {args.compare_env}"), **changes}
    runs_settings = [("A", run_a)] + ([("B", {**run_a, **changes})] if changes else [])
    factories = window_job_factories()
    version = args.model_version or read_registered(settings.model_dir(spec.model)).version
    out = args.out or settings.var_dir / "reports" / (
        f"backtest-{spec.model}-{plan.span.start:%Y%m%dT%H%M}-{plan.span.end:%Y%m%dT%H%M}-{plan.name}"
    )
    notes = []
    if plan.uncovered_s > 0:
        notes.append(f"the last {plan.uncovered_s:.0f} s of the range do not fill a {plan.name} window: not run")
    store = open_store(settings, spec)
    runs = []
    try:
        for label, overrides in runs_settings:
            rules, smtp = _check(overrides)
            notifier = _notifier(overrides) if args.notify and smtp else None
            if args.notify and not smtp:
                notes.append(f"run {label}: --notify without MLMON_SMTP_HOST: emails counted, not sent")
            progress = None if args.quiet else Progress(f"backtest {label}", len(plan.windows), unit="windows")
            with tempfile.TemporaryDirectory(prefix="mlmon-backtest-") as workdir:
                runs.append(
                    run_backtest(
                        plan,
                        label,
                        {k: v for k, v in overrides.items() if k not in flags},
                        factories,
                        DryStore(store),
                        Path(workdir),
                        model=spec.model,
                        rules=rules,
                        model_version=args.model_version,
                        notifier=notifier,
                        progress=progress,
                    )
                )
    finally:
        store.close()
    document = report.backtest_document(spec.model, version, plan, runs, notes)
    json_path, html_path = out.with_suffix(".json"), out.with_suffix(".html")
    _write_json(document, json_path)
    report_html.write(document, html_path)
    print("\n".join(report.summary_lines(document)))
    print(f"report: {html_path}\njson:   {json_path}")
    return 0


def _notifier(overrides: dict[str, Any]) -> Notifier:
    from prometheus_client import CollectorRegistry

    from mlmon.notify.email import EmailNotifier
    from mlmon.settings import StatsSettings, load_settings

    return EmailNotifier(load_settings(StatsSettings, **overrides), CollectorRegistry())


def _write_json(document: dict[str, Any], path: Path) -> None:
    import json

    from mlmon.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(document, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
