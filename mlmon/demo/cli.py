"""`mlmon demo`: the embedded stack end to end on one machine, no Docker, on the loan example.

1. generates the demo data into the demo's Feast repo (``feature_repo/``) once and trains the loan model with
   `mlmon train`'s code (and, for `bad-retrain`, a degraded version later);
2. starts an SMTP sink writing ``.eml`` files to ``var/mail/<scenario>/``, Prometheus (when its binary is
   installed), the model server, the statistics service and the drift detector, all on free loopback ports,
   with short intervals and windows (:class:`mlmon.embedded.stack.EmbeddedStack`);
3. replays a ``baseline`` phase, then the fault scenario (`--scenario`, default ``unit-change``);
4. waits until the incident email arrives (or, for ``seasonal``, makes sure no drift email does), prints what
   was detected, when, and where the email and the HTML report are; stops everything it started.

Exit status: 0 when the fault was detected (or correctly not alerted on), 1 otherwise.
Rates and phases can be changed with ``MLMON_DEMO_<FIELD>`` variables (fields of
:class:`mlmon.demo.timings.DemoTimings`, e.g. ``MLMON_DEMO_RATE=100 MLMON_DEMO_BASELINE_S=15``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from mlmon.demo.run import ScenarioOutcome, run_scenario
from mlmon.demo.scenarios import SCENARIOS, Scenario, get_scenario
from mlmon.demo.timings import DemoTimings
from mlmon.demo.training import SPEC_PATH, Variant, train_demo
from mlmon.embedded.stack import EmbeddedStack
from mlmon.logs import configure_logging
from mlmon.settings import CommonSettings, load_settings


class _Clock:
    """Seconds since the demo started, for its progress lines."""

    started = time.monotonic()


def _say(text: str) -> None:
    print(f"[demo {time.monotonic() - _Clock.started:5.1f}s] {text}", flush=True)


def train_model(repo: Path, model_dir: Path, variant: Variant, activate: bool = True) -> str:
    """The demo model (or its degraded variant) into ``model_dir``; returns the version."""
    result = train_demo(repo, model_dir, variant=variant, activate=activate).registered
    shown = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if k in ("roc_auc", "precision", "recall"))
    _say(f"model {result.model} version {result.version} ({variant}); holdout {shown}")
    return result.version


def add(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the whole embedded stack end to end on the loan example and inject a fault"
    )
    parser.add_argument("--scenario", default="unit-change", choices=list(SCENARIOS), help="fault to inject")
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="where the demo keeps its state")
    parser.add_argument("--feast-repo", type=Path, help="the demo's Feast repo (default: MLMON_FEAST_REPO)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="only generate the demo data into MLMON_FEAST_REPO and register the demo model into MLMON_MODEL_PATH "
        "(the docker compose stack's one-shot job), then exit",
    )
    parser.set_defaults(handler=run_demo)


def _train_only() -> int:
    settings = load_settings(CommonSettings)
    configure_logging(settings.log_level)
    version = train_model(settings.feast_repo, settings.model_dir("loan_default"), "standard")
    print(f"registered the demo model {version} in {settings.model_dir('loan_default')}")
    return 0


def run_demo(args: argparse.Namespace, timings: DemoTimings | None = None) -> int:
    if getattr(args, "train_only", False):
        return _train_only()
    _Clock.started = time.monotonic()
    configure_logging("WARNING")
    try:
        scenario = get_scenario(args.scenario)
        timings = timings or DemoTimings.from_env()
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    timings = dataclasses.replace(timings, timeout_s=float(getattr(args, "timeout", timings.timeout_s)))
    workdir: Path = args.workdir
    repo: Path = args.feast_repo or load_settings(CommonSettings).feast_repo
    shutil.rmtree(workdir, ignore_errors=True)  # every demo starts from an empty store and inbox
    mail_dir = workdir.parent / "mail" / scenario.name
    shutil.rmtree(mail_dir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    _say(f"scenario {scenario.name}: {scenario.description}")
    model_dir = workdir / "models" / "loan_default"
    train_model(repo, model_dir, "standard")
    settings = load_settings(
        CommonSettings, model_spec=SPEC_PATH, feast_repo=repo, model_path=model_dir, var_dir=workdir
    )
    stack = EmbeddedStack(
        workdir=workdir,
        settings=settings,
        model_dir=model_dir,
        timings=timings.services,
        mail_dir=mail_dir,
        say=_say,
    )
    previous = _stop_on_sigterm()
    try:
        with stack:
            outcome = run_scenario(
                stack,
                scenario,
                timings,
                train=lambda variant: train_model(repo, model_dir, variant, activate=False),  # type: ignore[arg-type]
                say=_say,
            )
            code = conclude(stack, scenario, outcome, timings)
    except (RuntimeError, TimeoutError) as exc:  # a service did not start: its log says why
        _say(f"FAILED: {exc}")
        code = 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _say("stopped every process the demo started")
    return code


def _stop_on_sigterm() -> Any:
    """SIGTERM unwinds like Ctrl-C, so the stack's ``__exit__`` stops every service it started."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set handlers
    return signal.signal(signal.SIGTERM, interrupt)


def conclude(stack: EmbeddedStack, scenario: Scenario, outcome: ScenarioOutcome, timings: DemoTimings) -> int:
    report = outcome.report_path
    if not scenario.expected_features:
        if outcome.alert_mails:
            _say(f"FAILED: '{scenario.name}' must not alert, but got {outcome.alert_mails[0].path}")
            _say(f"subject: {outcome.alert_mails[0].subject}")
            return 1
        if outcome.timed_out:
            _say(f"FAILED: the run hit its timeout ({timings.timeout_s:g}s) before the watch ended")
            return 1
        _say(f"OK: no incident for '{scenario.name}' (as expected); latest drift report: {report}")
        return 0
    if not outcome.detected:
        _say(
            f"FAILED: no email naming {' or '.join(scenario.expected_kinds)} and "
            f"{', '.join(scenario.expected_features)} arrived; "
            f"see {stack.logs_dir} and {stack.inbox}"
        )
        for mail in outcome.mails:
            _say(f"  got instead: {mail.subject}")
        return 1
    _say(f"DETECTED '{scenario.name}' {outcome.elapsed_s:.0f}s after the fault started")
    _say(f"email: {outcome.email_path}")
    _say(f"subject: {outcome.subject}")
    for line in (outcome.text or "").splitlines()[:14]:
        print(f"    {line}")
    if report is not None:
        _say(f"HTML drift report: {report}")
    return 0
