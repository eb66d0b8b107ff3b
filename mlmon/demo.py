"""`mlmon demo`: the embedded stack end to end on one machine, no Docker.

1. trains the demo model from the Feast repo (and, for `bad-retrain`, a degraded version later);
2. starts an SMTP sink writing ``.eml`` files to ``var/mail/<scenario>/``, Prometheus (when its binary is
   installed), the model server, the statistics service and the drift detector, all on free loopback ports,
   with short intervals and windows (:class:`mlmon.replay.stack.EmbeddedStack`);
3. replays a ``baseline`` phase, then the fault scenario (`--scenario`, default ``unit-change``);
4. waits until the incident email arrives (or, for ``seasonal``, makes sure no drift email does), prints what
   was detected, when, and where the email and the HTML report are; stops everything it started.

Exit status: 0 when the fault was detected (or correctly not alerted on), 1 otherwise.
Rates and phases can be changed with ``MLMON_DEMO_<FIELD>`` variables (fields of
:class:`mlmon.replay.stack.DemoTimings`, e.g. ``MLMON_DEMO_RATE=100 MLMON_DEMO_BASELINE_S=15``).
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

from mlmon.logs import configure_logging
from mlmon.model import artifact
from mlmon.replay.run import ScenarioOutcome, run_scenario
from mlmon.replay.scenarios import Scenario, get_scenario
from mlmon.replay.stack import DemoTimings, EmbeddedStack
from mlmon.settings import CommonSettings, load_settings
from mlmon.spec import load_spec

_STARTED = [time.monotonic()]


def _say(text: str) -> None:
    print(f"[demo {time.monotonic() - _STARTED[0]:5.1f}s] {text}", flush=True)


def train_model(settings: CommonSettings, model_dir: Path, variant: str) -> str:
    """`mlmon train [--variant]` into ``model_dir``; returns the version."""
    from mlmon.training.train import train

    spec = load_spec(settings.model_spec)
    result = train(spec, settings.feast_repo, model_dir, variant=variant)  # type: ignore[arg-type]
    _say(
        f"model {result.model} version {result.version} ({variant}); holdout "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if k in ("roc_auc", "precision", "recall"))
    )
    return result.version


def _stage_model(settings: CommonSettings, version: str, target: Path) -> Path:
    """The demo serves a copy of the trained version, so deploying a degraded model for `bad-retrain` never
    changes what ``MLMON_MODEL_PATH`` serves outside the demo."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copytree(settings.model_path / version, target / version)
    artifact.set_current(target, version)
    return target


def run_demo(args: argparse.Namespace, timings: DemoTimings | None = None) -> int:
    _STARTED[0] = time.monotonic()
    settings = load_settings(CommonSettings)
    configure_logging("WARNING")
    try:
        scenario = get_scenario(args.scenario)
        timings = timings or DemoTimings.from_env()
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    timings = dataclasses.replace(timings, timeout_s=float(getattr(args, "timeout", timings.timeout_s)))
    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)  # every demo starts from an empty store and inbox
    mail_dir = settings.var_dir / "mail" / scenario.name
    shutil.rmtree(mail_dir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    _say(f"scenario {scenario.name}: {scenario.description}")
    version = train_model(settings, settings.model_path, "standard")
    model_dir = _stage_model(settings, version, workdir / "models" / settings.model_path.name)
    stack = EmbeddedStack(
        workdir=workdir, settings=settings, model_dir=model_dir, timings=timings, mail_dir=mail_dir, say=_say
    )
    previous = _stop_on_sigterm()
    try:
        with stack:
            outcome = run_scenario(
                stack, scenario, timings, train=lambda variant: train_model(settings, model_dir, variant), say=_say
            )
            code = conclude(stack, scenario, outcome)
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


def conclude(stack: EmbeddedStack, scenario: Scenario, outcome: ScenarioOutcome) -> int:
    report = outcome.report_path
    if not scenario.expected_features:
        if outcome.drift_mails:
            _say(f"FAILED: '{scenario.name}' must not alert, but got {outcome.drift_mails[0].path}")
            _say(f"subject: {outcome.drift_mails[0].subject}")
            return 1
        if outcome.timed_out:
            _say(f"FAILED: the run hit its timeout ({stack.timings.timeout_s:g}s) before the watch ended")
            return 1
        others = [m for m in outcome.mails if m.job != "drift"]
        extra = f" ({len(others)} other email(s), e.g. {others[0].subject})" if others else ""
        _say(f"OK: no drift email for '{scenario.name}' (as expected){extra}; latest drift report: {report}")
        return 0
    if not outcome.detected:
        _say(
            f"FAILED: no incident email naming {', '.join(scenario.expected_features)} arrived; "
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
