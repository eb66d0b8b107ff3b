"""History and backtests on the non-demo example (examples/bike_rentals), with its own Feast repo, its own training
script and `mlmon register`, then:

- a synthetic history of its model — five weeks of predictions (400 a day, the training period's rows at random
  times) whose temperature sensor reads 8 °C too warm from 2025-04-22 on, the true rentals as labels — loaded
  with `mlmon ingest` (twice: each prediction is stored once);
- `mlmon backtest` over daily windows: the first incident opens in the first window after the change, none
  before it; the same history with a second setting (`--compare`) in the same report;
- the HTML report rendered by headless Chromium (no external resources): timeline and heatmap are there;
- `mlmon stats|drift --start --end`: one-off runs over a past range, and a bad range is one clear error.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from mlmon.cli import main
from mlmon.registry.scoring import model_frame
from mlmon.spec import load_spec
from tests.conftest import REPO, require_component

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLE = REPO / "examples" / "bike_rentals"
COMMITTED = ["make_data.py", "train.py", "spec.yaml"] + [
    f"feature_repo/{name}" for name in ("feature_store.yaml", "features.py", ".feastignore")
]
START, DAYS, PER_DAY = pd.Timestamp("2025-04-01", tz="UTC"), 35, 400
CHANGE = pd.Timestamp("2025-04-22", tz="UTC")  # temperature_c reads 8 °C too warm from here on


@dataclass(frozen=True)
class Bike:
    root: Path
    history: Path
    env: dict[str, str]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def synthetic_history(root: Path) -> pd.DataFrame:
    """Rows of the training period at random times over five weeks, scored by the registered model; from CHANGE
    on the temperature reads 8 °C too warm (same true rentals)."""
    sys.path.insert(0, str(root))
    try:
        make_data = importlib.import_module("make_data")  # the example's own generator (the temp copy)
    finally:
        sys.path.remove(str(root))
    frame = make_data.simulate(8000, 7)
    frame = frame[frame["event_timestamp"] < make_data.TRAFFIC_FROM].drop(columns=["created", "event_timestamp"])
    rng = np.random.default_rng(5)
    rows = frame.sample(DAYS * PER_DAY, replace=True, random_state=5).reset_index(drop=True)
    rows["event_timestamp"] = START + pd.to_timedelta(rng.uniform(0, DAYS * 86400, len(rows)), unit="s")
    rows.loc[rows["event_timestamp"] >= CHANGE, "temperature_c"] += 8
    spec = load_spec(root / "spec.yaml")
    rows["prediction"] = joblib.load(root / "model.joblib").predict(model_frame(spec, rows))
    return rows


@pytest.fixture(scope="module")
def bike(tmp_path_factory: pytest.TempPathFactory) -> Bike:
    """The example's README steps in a temp copy: data, `feast apply`, its training script, `mlmon register`."""
    root = tmp_path_factory.mktemp("bike")
    for name in COMMITTED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(EXAMPLE / name, root / name)
    python = sys.executable
    _run([python, "make_data.py", "--rows", "8000"], root)
    _run([str(Path(python).parent / "feast"), "apply"], root / "feature_repo")
    _run([python, "train.py"], root)
    env = {
        "MLMON_MODEL_SPEC": str(root / "spec.yaml"),
        "MLMON_FEAST_REPO": str(root / "feature_repo"),
        "MLMON_MODEL_PATH": str(root / "models"),
        "MLMON_VAR_DIR": str(root / "var"),
        "MLMON_STORE": f"sqlite:///{root / 'var' / 'history.db'}",
        "MLMON_STORE_RETENTION_DAYS": "3650",
    }
    _run([python, "-m", "mlmon", "register", "--model", "model.joblib", "--rows", "training_rows.parquet"], root, env)
    history = root / "history.parquet"
    synthetic_history(root).to_parquet(history, index=False)
    return Bike(root, history, env)


def mlmon(bike: Bike, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """`mlmon ARGS` in this process with the example's settings: (exit code, stdout, stderr)."""
    for key, value in bike.env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), monkeypatch.context() as patch:
        patch.chdir(bike.root)
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def backtest(bike: Bike) -> Iterator[dict[str, Any]]:
    """History ingested twice, then one backtest with a second setting compared; its JSON document and paths."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = mlmon(bike, monkeypatch, "ingest", str(bike.history))
        second = mlmon(bike, monkeypatch, "ingest", str(bike.history), "--quiet")
        out = bike.root / "var" / "reports" / "april"
        args = ["backtest", "--start", "2025-04-01", "--end", "2025-05-06", "--window", "1d", "--out", str(out)]
        code, text, err = mlmon(bike, monkeypatch, *args, "--compare", "MLMON_CONSECUTIVE=4")
    assert code == 0, err
    yield {
        "ingest": (first, second),
        "document": json.loads(out.with_suffix(".json").read_text()),
        "html": out.with_suffix(".html"),
        "text": text,
    }


def test_ingesting_the_history_twice_stores_each_prediction_once(backtest: dict[str, Any]) -> None:
    (code1, out1, err1), (code2, out2, _) = backtest["ingest"]
    assert code1 == 0 and code2 == 0
    total = DAYS * PER_DAY
    assert f"loaded {total:,}, already present 0, rejected 0" in out1
    assert f"labels written {total:,}" in out1
    assert f"loaded 0, already present {total:,}, rejected 0" in out2
    assert f"{total:,}/{total:,} rows (100%)" in err1  # the progress bar


def test_the_first_incident_opens_in_the_first_window_after_the_change(backtest: dict[str, Any]) -> None:
    run = backtest["document"]["runs"][0]
    timeline = {entry["start"]: entry for entry in run["timeline"]}
    assert len(timeline) == DAYS
    change = "2025-04-22T00:00:00Z"
    before = [entry for start, entry in timeline.items() if start < change]
    assert before and all(entry["incident"] is None and not entry["emails"] for entry in before)
    first = run["incidents"][0]
    assert first["first_window"]["start"] == change and first["opened_at"] == "2025-04-23T00:00:00Z"
    assert first["severity"] == "critical"
    assert timeline[change]["incident"] == first["id"]
    # symptoms and causes of the first window after the change: the MAE SLO breached, temperature_c the cause
    breached = {s["name"] for s in timeline[change]["symptoms"] if s["breached"]}
    assert "mae" in breached
    later = timeline["2025-04-24T00:00:00Z"]
    assert later["causes"]["temperature_c"]["status"] == "drift" and later["causes"]["temperature_c"]["ratio"] > 1
    assert all(e["causes"]["temperature_c"]["status"] != "drift" for e in before)
    assert "2025-04-23T00:00:00Z critical" in backtest["text"]


def test_the_report_compares_a_second_setting_on_the_same_history(backtest: dict[str, Any]) -> None:
    document = backtest["document"]
    a, b = document["runs"]
    assert (a["label"], b["label"]) == ("A", "B")
    assert b["settings"]["consecutive"] == "4" and "consecutive" not in a["settings"]
    assert len(b["timeline"]) == len(a["timeline"]) == DAYS
    assert b["incidents"] and b["incidents"][0]["first_window"]["start"] >= "2025-04-22T00:00:00Z"

    # the statistics do not depend on the drift decision rule; the drift decisions do: the output's moderate
    # shift waits for four windows in a row instead of two, while temperature_c's gross one (≈14× its threshold)
    # is decided at once under both settings
    def days(run: dict[str, Any], drifted: Any) -> int:
        return sum(bool(drifted(e)) for e in run["timeline"])

    def output(entry: dict[str, Any]) -> bool:
        return any(s["name"] == "prediction distribution" and s["breached"] for s in entry["symptoms"])

    def temperature(entry: dict[str, Any]) -> bool:
        return entry["causes"]["temperature_c"]["status"] == "drift"

    assert days(b, output) == days(a, output) - 2 > 0
    assert days(b, temperature) == days(a, temperature) == DAYS - 21
    assert [e["rows"] for e in a["timeline"]] == [e["rows"] for e in b["timeline"]]
    assert sum(a["per_month"][m]["incidents"] for m in a["per_month"]) == len(a["incidents"])
    assert set(a["per_kind"]) and sum(a["per_kind"].values()) == len(a["incidents"])


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    require_component("chromium", path is not None, "apt-get install chromium (or `make components` as root)")
    assert path is not None
    return path


def test_the_html_report_renders_in_headless_chromium_without_external_resources(
    backtest: dict[str, Any], tmp_path: Path
) -> None:
    html_path: Path = backtest["html"]
    html = html_path.read_text()
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert not re.search(r"url\(", html)
    chromium = _chromium()
    args = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", html_path.as_uri(),
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dom, errors = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()  # this process only, by its pid
            process.wait(10)
    assert process.returncode == 0, errors[-2000:]
    for run in ("A", "B"):
        assert re.search(rf'<svg[^>]*id="timeline-{run}"', dom), dom[:500]
        assert re.search(rf'<svg[^>]*id="heatmap-{run}"', dom)
    features = len(backtest["document"]["runs"][0]["timeline"][-1]["causes"])
    assert dom.count('class="cell') >= 2 * features * DAYS
    assert 'class="incident-band"' in dom and 'class="point breached"' in dom
    assert 'id="per-month"' in dom and 'id="per-kind"' in dom and 'id="incidents-A"' in dom


def test_one_off_runs_over_a_past_range(bike: Bike, backtest: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    week = ("--start", "2025-04-22", "--end", "2025-04-29")
    code, drift, err = mlmon(bike, monkeypatch, "drift", *week)
    assert code == 0, err
    assert "DRIFT in" in drift and "temperature_c" in drift.splitlines()[0]
    assert "window 2025-04-22T00:00:00+00:00 .. 2025-04-29T00:00:00+00:00" in drift
    assert "HTML report:" in drift and "no report stored, no incident, no email" in drift
    code, stats, err = mlmon(bike, monkeypatch, "stats", *week)
    assert code == 0, err
    assert re.search(r"mae\s+[0-9.]+\s+SLO <= 4.5\s+BREACHED", stats), stats
    assert re.search(r"window 1w: 2[0-9]{3} predictions", stats), stats
    code, calm, _ = mlmon(bike, monkeypatch, "stats", "--start", "2025-04-01", "--end", "2025-04-15")
    assert code == 0 and re.search(r"mae\s+[0-9.]+\s+SLO <= 4.5\s+ok", calm), calm
    # nothing of the live services changed: no report in the store, no streak state in the live var dir
    assert not (bike.root / "var" / "state").exists()
    store_reports = subprocess.run(
        [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
         "print(c.execute('select count(*) from reports_bike_rentals').fetchone()[0])",
         bike.env["MLMON_STORE"].removeprefix("sqlite:///")],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert store_reports.stdout.strip() == "0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "2025-04-29", "--end", "2025-04-22"), "--end 2025-04-22T00:00:00+00:00 is not after --start"),
        (("--start", "2025-04-22"), "--start and --end go together"),
        (("--start", "last tuesday", "--end", "2025-04-22"), "--start 'last tuesday': not an ISO 8601 time"),
    ],
)
def test_a_bad_range_is_one_clear_error(
    bike: Bike, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    for command in ("stats", "drift"):
        code, _, err = mlmon(bike, monkeypatch, command, *args)
        assert code == 2 and message in err and "Traceback" not in err
    code, _, err = mlmon(
        bike, monkeypatch, "backtest", "--start", "2025-04-01", "--end", "2025-04-02", "--window", "2d"
    )
    assert code == 2 and "--window 2d is longer than the range (1d)" in err


def test_ingest_joins_the_features_from_feast_or_reads_a_saved_dataset(
    bike: Bike, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An entity dataframe of predictions (keys, event time, prediction, label) gets its features from the
    spec's feature service as of each event time; a saved dataset without predictions is one clear error."""
    traffic = pd.read_parquet(bike.root / "traffic.parquet").head(300)
    entities = traffic[["station_id", "event_timestamp", "rentals"]].copy()
    entities["prediction"] = 5.0
    path = tmp_path / "entities.parquet"
    entities.to_parquet(path)
    monkeypatch.setenv("MLMON_STORE", f"sqlite:///{tmp_path / 'joined.db'}")
    env = {**bike.env}
    env.pop("MLMON_STORE")
    bike_here = Bike(bike.root, bike.history, env)
    code, out, err = mlmon(bike_here, monkeypatch, "ingest", str(path), "--features-from-feast", "--quiet")
    assert code == 0, err
    assert "joined with Feast feature service 'bike_rentals_v1'" in out
    assert "loaded 300, already present 0, rejected 0" in out and "labels written 300" in out
    from mlmon.store.base import TimeWindow
    from mlmon.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "joined.db", load_spec(bike.root / "spec.yaml"))
    try:
        window = TimeWindow(pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-04-01", tz="UTC"))
        rows = store.read_window(window, fields=["temperature_c", "weather"])
    finally:
        store.close()
    joined = rows.sort_values("timestamp")["temperature_c"].to_numpy()
    expected = traffic.sort_values("event_timestamp")["temperature_c"].to_numpy()
    assert np.allclose(np.sort(joined), np.sort(expected), equal_nan=True)  # the features Feast had
    registered = next((bike.root / "models").glob("*/metadata.json"))
    saved = json.loads(registered.read_text())["feast"]["saved_dataset"]
    code, _, err = mlmon(bike_here, monkeypatch, "ingest", "--saved-dataset", saved)
    assert code == 2 and "no prediction column: neither 'prediction' nor 'score'" in err


def test_emails_go_out_only_with_notify(
    bike: Bike, backtest: dict[str, Any], monkeypatch: pytest.MonkeyPatch, smtp_server: Any, tmp_path: Path
) -> None:
    """With SMTP configured the backtest still sends nothing; with --notify the incidents' emails go out through
    the live notifier (a real SMTP server), threaded like live ones."""
    monkeypatch.setenv("MLMON_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("MLMON_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("MLMON_ALERT_EMAIL_TO", "oncall@example.com")
    days = ["backtest", "--start", "2025-04-20", "--end", "2025-04-25", "--window", "1d", "--quiet"]
    code, _, err = mlmon(bike, monkeypatch, *days, "--out", str(tmp_path / "counted"))
    assert code == 0, err
    counted = json.loads((tmp_path / "counted.json").read_text())["runs"][0]
    assert counted["emails"] >= 1 and smtp_server.files() == []  # counted, not sent
    code, _, err = mlmon(bike, monkeypatch, *days, "--notify", "--out", str(tmp_path / "sent"))
    assert code == 0, err
    sent = json.loads((tmp_path / "sent.json").read_text())["runs"][0]
    assert sent["emails"] == counted["emails"]
    messages = smtp_server.wait_for(sent["emails"])
    assert len(messages) == sent["emails"]
    first = messages[0]
    assert first["Subject"].startswith("[mlmon CRITICAL] bike_rentals") and first["To"] == "oncall@example.com"
    assert first["X-Mlmon-Incident"] == sent["incidents"][0]["id"]
    assert all(m["In-Reply-To"] for m in messages[1:])  # one thread
