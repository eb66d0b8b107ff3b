"""End-to-end fixtures: models trained once per session in a temp Feast repo, a fresh embedded stack per test.

The timings are shorter and the rate higher than `mlmon demo`'s so that the nine scenarios fit in a few
minutes on a 2-core machine; windows and intervals still leave every decision several runs of evidence.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlmon.demo.run import ScenarioOutcome
from mlmon.demo.timings import DemoTimings
from mlmon.embedded.processes import prometheus_binary
from mlmon.embedded.stack import EmbeddedStack
from mlmon.registry import artifact
from mlmon.settings import CommonSettings, load_settings
from mlmon.spec import load_spec
from tests.conftest import require_component
from tests.fixtures.feast import SPEC_PATH, copy_feature_repo

E2E_TIMINGS = DemoTimings(
    rate=80.0,
    baseline_s=15.0,
    fault_s=35.0,
    drift_window="20s",
    job_interval_s=3.0,
    min_rows=400,
    consecutive=2,
    stats_window="30s",
    label_delay_s=5.0,
    min_labels=1000,  # reached ~20 s into a phase: no evaluation on a few hundred noisy labels
    feedback_delay_s=2.0,
    timeout_s=150.0,
    grace_s=10.0,
    digest_interval_s=12.0,
)
TRAIN_ROWS = 20_000  # what `mlmon demo` trains on: the degraded model's real AUC is measured on this size


@dataclass(frozen=True)
class TrainedModels:
    feast_repo: Path
    model_dir: Path  # both versions, CURRENT = standard
    standard: str
    degraded: str
    holdout_auc: dict[str, float]


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    from mlmon.demo.training import train_demo

    require_component("prometheus", prometheus_binary() is not None)
    root = tmp_path_factory.mktemp("e2e-models")
    repo = copy_feature_repo(root / "feature_repo")
    spec = load_spec(SPEC_PATH)
    model_dir = root / "models" / spec.model
    degraded = train_demo(repo, model_dir, rows=TRAIN_ROWS, variant="degraded", activate=False).registered
    standard = train_demo(repo, model_dir, rows=TRAIN_ROWS, variant="standard").registered
    return TrainedModels(
        repo,
        model_dir,
        standard.version,
        degraded.version,
        {"standard": standard.metrics["roc_auc"], "degraded": degraded.metrics["roc_auc"]},
    )


@pytest.fixture
def stack(trained_models: TrainedModels, tmp_path: Path) -> Iterator[EmbeddedStack]:
    """A fresh embedded stack (own store, inbox, model folder with CURRENT = standard), stopped after the test."""
    model_dir = tmp_path / "models" / trained_models.model_dir.name
    shutil.copytree(trained_models.model_dir, model_dir)
    artifact.set_current(model_dir, trained_models.standard)
    settings = load_settings(
        CommonSettings,
        model_spec=SPEC_PATH,
        feast_repo=trained_models.feast_repo,
        model_path=model_dir,
        var_dir=tmp_path / "var",
    )
    with EmbeddedStack(
        workdir=tmp_path / "var", settings=settings, model_dir=model_dir, timings=E2E_TIMINGS.services, say=print
    ) as running:
        yield running
    for child in running.children:
        assert not child.running, f"{child.name} (pid {child.pid}) still running after stop()"


def stats_timeline(stack: EmbeddedStack, limit: int = 60) -> str:
    """What the statistics and drift runs saw, newest last, for failure messages."""
    db = stack.workdir / "mlmon.db"
    if not db.is_file():
        return "(no store)"
    lines = []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'reports_%'")]
        for table in tables:
            rows = conn.execute(f'SELECT kind, body FROM "{table}" ORDER BY id DESC LIMIT ?', (limit,)).fetchall()
            for kind, body in reversed(rows):
                doc = json.loads(body)
                lines.append(f"{doc.get('@timestamp', '')[11:19]} {kind}: {doc.get('summary', '')}")
                if kind == "stats":
                    slos = [
                        f"{s['metric']}={s['value']:.3g}{'!' if s['breached'] else ''}"
                        for s in doc.get("slos", [])
                        if s.get("value") is not None
                    ]
                    lines.append("    " + " ".join(slos))
    return "\n".join(lines)


def describe(outcome: ScenarioOutcome, stack: EmbeddedStack) -> str:
    mails = "\n".join(f"  [{m.job}] {m.subject}" for m in outcome.baseline_mails + outcome.mails) or "  (none)"
    return (
        f"scenario {outcome.scenario}: detected={outcome.detected} elapsed={outcome.elapsed_s} "
        f"timed_out={outcome.timed_out}\nbaseline: {outcome.baseline.line() if outcome.baseline else '-'}\n"
        f"fault: {outcome.fault.line() if outcome.fault else '-'}\nmails:\n{mails}\n"
        f"timeline:\n{stats_timeline(stack)}\nlogs: {stack.logs_dir}"
    )
