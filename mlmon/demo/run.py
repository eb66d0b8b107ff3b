"""One scenario run against an embedded stack: baseline traffic, then the fault, until the incident email.

``run_scenario`` replays a ``baseline`` phase, deploys the scenario's model variant if it has one (the
``bad-retrain`` scenario: a degraded retrained model, then a server restart), replays the fault in a
background thread, and watches the inbox. It returns as soon as an email names the expected kind of change in
its subject (and the expected feature or metric in its text): an incident email, or for input shifts without a
symptom the digest. For scenarios that must not alert it returns once the fault phase and a grace period passed
without any incident email or digest. Everything is bounded by ``timings.timeout_s``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmon.demo.scenarios import Scenario, get_scenario
from mlmon.demo.timings import DemoTimings
from mlmon.embedded.mail import Mail, read_new
from mlmon.embedded.stack import FEEDBACK_TOKEN, EmbeddedStack, Say
from mlmon.notify.kinds import LABELS
from mlmon.registry import artifact
from mlmon.replay.traffic import ReplayStats, replay

POLL_S = 0.5
HISTORY_SEED = 100
HISTORY_S = 1.0
BASELINE_SEED = 101
FAULT_SEED = 202


@dataclass
class ScenarioOutcome:
    scenario: str
    expected: tuple[str, ...]  # names the email must carry (empty: nothing may alert)
    detected: bool  # the expected email arrived (for a no-alert scenario: always False)
    email_path: Path | None = None
    subject: str | None = None
    text: str | None = None
    mail: Mail | None = None  # the matching email
    elapsed_s: float | None = None  # fault start → email
    report_path: Path | None = None  # newest HTML drift report
    mails: list[Mail] = field(default_factory=list)  # every email received after the baseline phase
    baseline_mails: list[Mail] = field(default_factory=list)  # emails received during the baseline phase
    baseline: ReplayStats | None = None
    fault: ReplayStats | None = None
    model_version: str | None = None  # the version served during the fault
    timed_out: bool = False
    fault_started_at: float | None = None  # wall-clock time the fault phase began

    @property
    def alert_mails(self) -> list[Mail]:
        """Incident emails and digests (resolves left out): what a no-alert scenario must not produce."""
        return [m for m in self.mails if not m.resolved]

    @property
    def pages(self) -> list[Mail]:
        return [m for m in self.mails if m.page]

    @property
    def incidents(self) -> set[str]:
        """The incidents the emails of the fault phase belong to (a digest names those of its shifts)."""
        return {i for m in self.mails for i in m.incident.split(",") if i and i != "digest"}

    @property
    def ok(self) -> bool:
        """Detected as expected, or (no-alert scenario) no incident email nor digest from the fault on."""
        if not self.expected:
            return not self.alert_mails and not self.timed_out
        return self.detected


def send_scenario(
    target: str, scenario: Scenario, *, rate: float, duration: float, seed: int, **options: Any
) -> ReplayStats:
    """Replay ``scenario``'s rows (seeded) to ``target``; options as :func:`mlmon.replay.traffic.replay`."""
    rows = scenario.rows(seed, max(1, int(rate * duration)))
    return replay(target, rows, rate=rate, duration=duration, **options)


def matching(mail: Mail, scenario: Scenario) -> bool:
    """An incident email (or, for input shifts without a symptom, the digest) that names one of the scenario's
    kinds of change in its subject, with the scenario's subject words, and an expected feature in its text."""
    if mail.resolved or (mail.digest and scenario.pages):
        return False
    subject = mail.subject.lower()
    kinds = [k for k in scenario.expected_kinds if LABELS[k] in subject and mail.kind == k]
    if scenario.expected_kinds and not kinds:
        return False
    if any(word.lower() not in subject for word in scenario.subject_words):
        return False
    return bool(mail.in_text(scenario.expected_features))


def deploy_variant(stack: EmbeddedStack, variant: str, train: Callable[[str], str] | None = None) -> str:
    """Make ``variant`` the serving version and restart the server; returns the version.

    A version of that variant already in the model folder is reused; otherwise ``train(variant)`` trains it
    into the folder (``mlmon train --variant`` does the same)."""
    version = find_variant(stack.model_dir, variant)
    if version is None:
        if train is None:
            raise RuntimeError(f"no {variant!r} model in {stack.model_dir} and no trainer given")
        version = train(variant)
    artifact.set_current(stack.model_dir, version)
    stack.restart_model_server()
    return version


def find_variant(model_dir: Path, variant: str) -> str | None:
    for meta in sorted(model_dir.glob(f"*/{artifact.METADATA_FILE}")):
        try:
            trainer = json.loads(meta.read_text(encoding="utf-8")).get("trainer") or {}
            if trainer.get("variant") == variant:
                return meta.parent.name
        except (OSError, ValueError):
            continue
    return None


def serving_version(model_dir: Path) -> str | None:
    try:
        return artifact.resolve_version_dir(model_dir).name
    except Exception:
        return None


def _progress(say: Say) -> Callable[[ReplayStats], None]:
    last = [0.0]

    def show(stats: ReplayStats) -> None:
        if stats.elapsed_s - last[0] >= 5.0:
            last[0] = stats.elapsed_s
            say(f"  {stats.line()}")

    return show


def run_scenario(
    stack: EmbeddedStack,
    scenario: Scenario | str,
    timings: DemoTimings | None = None,
    *,
    train: Callable[[str], str] | None = None,
    say: Say | None = None,
) -> ScenarioOutcome:
    """Baseline phase, fault phase, wait for the verdict (see the module docstring)."""
    scenario = get_scenario(scenario) if isinstance(scenario, str) else scenario
    t = timings or DemoTimings()
    say = say or (lambda text: None)
    deadline = time.monotonic() + t.timeout_s
    outcome = ScenarioOutcome(scenario.name, scenario.expected_features, detected=False)
    seen: set[Path] = set()
    read_new(stack.inbox, seen)  # whatever was there before does not belong to this run

    if t.history_rows > 0:
        history = send_scenario(
            stack.server_url,
            get_scenario("baseline"),
            rate=t.history_rows / HISTORY_S,
            duration=HISTORY_S,
            seed=HISTORY_SEED,
            feedback_token=FEEDBACK_TOKEN,
            feedback_delay=0.0,
        )
        say(f"history: {history.sent} baseline predictions with their labels in {history.elapsed_s:.1f}s")
    say(f"phase 1: baseline traffic for {t.baseline_s:g}s at {t.rate:g} req/s")
    outcome.baseline = send_scenario(
        stack.server_url,
        get_scenario("baseline"),
        rate=t.rate,
        duration=min(t.baseline_s, t.timeout_s),
        seed=BASELINE_SEED,
        feedback_token=FEEDBACK_TOKEN,
        feedback_delay=t.feedback_delay_s,
        progress=_progress(say),
    )
    say(f"  baseline done: {outcome.baseline.line()}")
    outcome.baseline_mails = read_new(stack.inbox, seen)
    for mail in outcome.baseline_mails:
        say(f"note: email during the baseline phase: {mail.subject}")

    if scenario.model_variant != "standard":
        say(f"deploying a retrained '{scenario.model_variant}' model ...")
        version = deploy_variant(stack, scenario.model_variant, train)
        say(f"model server now serves {version}")
    outcome.model_version = serving_version(stack.model_dir)

    fault_s = max(1.0, min(t.fault_s, deadline - time.monotonic()))
    say(f"phase 2: fault '{scenario.name}' for up to {fault_s:g}s")
    stop = threading.Event()
    box: list[ReplayStats] = []
    sender = threading.Thread(
        target=lambda: box.append(
            send_scenario(
                stack.server_url,
                scenario,
                rate=t.rate,
                duration=fault_s,
                seed=FAULT_SEED,
                feedback_token=FEEDBACK_TOKEN,
                feedback_delay=t.feedback_delay_s,
                progress=_progress(say),
                stop=stop,
            )
        ),
        name=f"replay-{scenario.name}",
        daemon=True,
    )
    started = time.monotonic()
    outcome.fault_started_at = time.time()
    sender.start()
    # Expected alerts end the run when they arrive; otherwise watch the whole phase plus a grace period (the
    # jobs' last windows still hold the fault), all within the overall deadline.
    watch_until = started + fault_s + t.grace_s
    try:
        while True:
            now = time.monotonic()
            for mail in read_new(stack.inbox, seen):
                outcome.mails.append(mail)
                if scenario.expected_features and not outcome.detected and matching(mail, scenario):
                    outcome.detected = True
                    outcome.elapsed_s = now - started
                    outcome.mail = mail
                    outcome.email_path, outcome.subject, outcome.text = mail.path, mail.subject, mail.text
            if outcome.detected:
                break
            if now >= min(deadline, watch_until):
                outcome.timed_out = deadline < watch_until
                break
            if not scenario.expected_features and outcome.alert_mails:
                break  # a false alarm: no need to wait for more
            time.sleep(POLL_S)
    finally:
        stop.set()
        sender.join(timeout=t.feedback_delay_s + 15.0)
    outcome.fault = box[0] if box else None
    if outcome.fault is not None:
        say(f"  fault phase: {outcome.fault.line()}")
    outcome.report_path = stack.latest_report()
    return outcome
