"""The second, non-demo model end to end, as its README tells a team to run it: a regression keyed by station_id,
trained by a plain scikit-learn script on its own Feast repo, registered with `mlmon register`, served by the
reference server and by the team's own FastAPI app (`monitor(app)`), replayed with `mlmon replay --from` a file
with 8 °C too warm temperatures and the true rentals as feedback. Real components: Feast, the ES-API server as
the inference store, Prometheus, the statistics service, the drift detector and an SMTP server.

Expected: the drift detector finds temperature_c, the statistics service computes the MAE from the feedback
labels (above the spec's SLO), and an email in the SMTP server names temperature_c.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlmon.embedded.mail import read_new
from mlmon.embedded.processes import prometheus_binary
from mlmon.embedded.stack import FEEDBACK_TOKEN, EmbeddedStack, ServerLaunch, ServiceTimings
from mlmon.instrument.multiprocess import child_environment
from mlmon.settings import CommonSettings, load_settings
from mlmon.spec import load_spec
from mlmon.store.factory import open_store
from tests.conftest import REPO, require_component, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLE = REPO / "examples" / "bike_rentals"
FEATURE = "temperature_c"
TIMINGS = ServiceTimings(
    drift_window="20s",
    job_interval_s=3.0,
    min_rows=100,
    consecutive=2,
    stats_window="30s",
    label_delay_s=4.0,
    min_labels=100,
    notify_cooldown_s=600.0,
)


@dataclass(frozen=True)
class Example:
    root: Path
    model_dir: Path
    env: dict[str, str]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    """The README's first steps, literally: data, the team's own training script, `mlmon register`."""
    require_component("prometheus", prometheus_binary() is not None)
    root = tmp_path_factory.mktemp("bike") / "bike_rentals"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", "*.parquet", "model.joblib", "models", "var"))
    python = sys.executable
    run([python, "make_data.py"], root)
    run([str(Path(python).parent / "feast"), "apply"], root / "feature_repo")
    run([python, "train.py"], root)
    env = {k: v for k, v in child_environment().items() if not k.startswith("MLMON_")}
    env |= {
        "MLMON_MODEL_SPEC": str(root / "spec.yaml"),
        "MLMON_FEAST_REPO": str(root / "feature_repo"),
        "MLMON_MODEL_PATH": str(root / "models"),
        "MLMON_VAR_DIR": str(root / "var"),
    }
    out = run(
        [python, "-m", "mlmon", "register", "--model", "model.joblib", "--rows", "training_rows.parquet"], root, env
    )
    assert "model bike_rentals version" in out
    return Example(root, root / "models", env)


@pytest.fixture
def stack_for(example: Example, es_url: str, tmp_path: Path) -> Iterator[Any]:
    stacks: list[EmbeddedStack] = []

    def start(server: ServerLaunch) -> EmbeddedStack:
        settings = load_settings(
            CommonSettings,
            model_spec=example.root / "spec.yaml",
            feast_repo=example.root / "feature_repo",
            model_path=example.model_dir,
            var_dir=tmp_path / "var",
        )
        stack = EmbeddedStack(
            workdir=tmp_path / "var",
            settings=settings,
            model_dir=example.model_dir,
            timings=TIMINGS,
            store=es_url,
            server=server,
            say=print,
        )
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()


def replay_warm_march(example: Example, stack: EmbeddedStack, route: str, batch: int) -> str:
    """`mlmon replay --from traffic.parquet --shift temperature_c=8`, with the true rentals as feedback."""
    args = [sys.executable, "-m", "mlmon", "replay", "--from", "traffic.parquet", "--shift", f"{FEATURE}=8"]
    args += ["--target", stack.server_url, "--route", route, "--batch", str(batch), "--rate", "40"]
    args += ["--duration", "30", "--feedback-delay", "1"]
    return run(args, example.root, {**example.env, "MLMON_FEEDBACK_TOKEN": FEEDBACK_TOKEN}, timeout=120)


def assert_found(stack: EmbeddedStack) -> None:
    spec = load_spec(stack.settings.model_spec)
    settings = stack.settings.model_copy(update={"store": stack.store_url})
    seen: set[Path] = set()
    mails: list[Any] = []

    def email_names_the_feature() -> bool:
        mails.extend(read_new(stack.inbox, seen))
        return any(FEATURE in m.subject or FEATURE in m.text for m in mails)

    wait_until(email_names_the_feature, 90, f"an email naming {FEATURE}")
    store = open_store(settings, spec)
    try:
        drift = store.latest_reports("drift", limit=50)
        stats = store.latest_reports("stats", limit=50)
    finally:
        store.close()
    assert any(FEATURE in (r.get("drifted_features") or []) for r in drift), [r.get("summary") for r in drift[:5]]
    maes = [
        e["metrics"]["mae"]
        for r in stats
        for w in r.get("windows", [])
        for e in w.get("evaluation", [])
        if e.get("segment") == "all" and "mae" in e.get("metrics", {})
    ]
    assert maes, [r.get("summary") for r in stats[:5]]
    assert max(maes) > 4.5  # the spec's SLO: mae <= 4.5; warmer inputs, same rentals


def test_reference_server_serves_the_registered_regression(example: Example, stack_for: Any) -> None:
    stack = stack_for(ServerLaunch())
    out = replay_warm_march(example, stack, route="/predict", batch=16)
    assert "errors 0" in out.splitlines()[-2] or " 0 errors" in out, out[-500:]
    assert_found(stack)


def test_the_teams_own_fastapi_app_with_one_call(example: Example, stack_for: Any) -> None:
    launch = ServerLaunch(
        module="uvicorn",
        args=("app:app", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"),
        cwd=example.root,
        ready_path="/metrics",
        env=(("BIKE_MODEL", str(example.root / "model.joblib")),),
    )
    stack = stack_for(launch)
    out = replay_warm_march(example, stack, route="/v1/rentals", batch=1)
    assert " 0 errors" in out, out[-500:]
    assert_found(stack)
