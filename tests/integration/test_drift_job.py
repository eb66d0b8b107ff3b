"""The drift detector end to end on real components: events in SQLite (and the ES-API server), the baseline
of a model trained through Feast, the engine's tests and decision, reports, metrics and the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from drift_detector.baseline_cache import BaselineCache
from drift_detector.job import DriftJob, build_drift_job
from drift_detector.run import DriftRun
from mlmon.errors import BaselineNotFound
from mlmon.instrument.multiprocess import child_environment
from mlmon.registry.artifact import CURRENT_FILE, METADATA_FILE, PROFILE_FILE, REFERENCE_FILE
from mlmon.registry.serving import LoadedModel, load_model
from mlmon.settings import DriftSettings
from mlmon.store.base import InferenceStore
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import REPO
from tests.unit.drift_detector.helpers import (
    SPEC_PATH,
    events_from_frame,
    feature_rows,
    model_scores,
    unit_change,
    utc_now,
)
from tests.unit.drift_detector.test_collector import promtool_check, samples

pytestmark = pytest.mark.integration

ROWS = 1200
UNIT = "seconds_since_last_application"


@pytest.fixture(scope="module")
def model_dir(trained_model: Any) -> Path:
    return Path(trained_model.path).parent


@pytest.fixture(scope="module")
def feast_repo_dir(trained_model: Any) -> Path:
    return Path(trained_model.path).parents[2] / "feature_repo"


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> LoadedModel:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def baselines(model_dir: Path) -> BaselineCache:
    """One cache for the module: the reference rows are read once (per version)."""
    return BaselineCache(model_dir)


def drift_settings(tmp_path: Path, model_dir: Path, feast_repo_dir: Path, **overrides: Any) -> DriftSettings:
    values: dict[str, Any] = {
        "store": f"sqlite:///{tmp_path / 'inference.db'}",
        "model_spec": SPEC_PATH,
        "model_path": model_dir,
        "feast_repo": feast_repo_dir,
        "var_dir": tmp_path / "var",
        "window": "1h",
        "min_rows": 200,
        "consecutive": 1,
    }
    return DriftSettings(_env_file=None, **(values | overrides))  # not ./.env


def make_job(
    settings: DriftSettings, baselines: BaselineCache | None, store: InferenceStore | None = None
) -> tuple[DriftJob, CollectorRegistry]:
    registry = CollectorRegistry()
    job = build_drift_job(settings, registry, store=store)
    if baselines is not None:
        job.baselines = baselines
    return job, registry


def write_traffic(
    store: InferenceStore,
    loaded: LoadedModel,
    *,
    n: int = ROWS,
    seed: int,
    end: datetime,
    transform: Any = None,
    drop: tuple[str, ...] = (),
    prefix: str = "p",
    version: str | None = None,
) -> None:
    frame = feature_rows(n, seed, transform)
    events = events_from_frame(
        loaded.spec,
        frame,
        model_scores(loaded, frame),
        version=version or loaded.version,
        end=end,
        span_s=1800,
        drop=drop,
        prefix=prefix,
    )
    result = store.write_events(events)
    assert result.stored == n and not result.rejected, result.rejected[:3]


@pytest.fixture
def sqlite_store(tmp_path: Path, loaded: LoadedModel) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec)
    store.ensure_schema()
    yield store
    store.close()


def statuses(run: DriftRun) -> dict[tuple[str, str], str]:
    return {(c.feature, c.role): d.status for c in run.checks if (d := run.decision_for(c)) is not None}


def test_no_drift_on_baseline_like_traffic(tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store):
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=21, end=now)
    settings = drift_settings(tmp_path, model_dir, feast_repo_dir)
    job, registry = make_job(settings, baselines, sqlite_store)
    run = job.run_once(now)
    assert run.status == "ok" and run.rows == ROWS and run.path == "exact"
    assert run.version == loaded.version
    assert run.drifted == [], [c.key for c, _ in run.drifted]
    assert run.checks[0].role == "output"  # outputs first
    features = {c.feature for c in run.checks}
    assert {"prediction", "predicted_class", UNIT, "channel", "has_coborrower"} <= features
    assert "postcode" not in features  # PII is stored hashed: never compared
    assert set(statuses(run).values()) == {"no_drift"}
    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)
    detected = {dict(k)["feature"]: v for (n, k), v in got.items() if n == "mlmon_drift_detected"}
    assert detected and set(detected.values()) == {0.0}
    [doc] = sqlite_store.latest_reports("drift", limit=1)
    assert doc["drift_detected"] is False and doc["rows"] == ROWS and doc["model"]["version"] == loaded.version


def test_unit_change_is_decided_in_the_first_window_and_named_as_one(
    tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store
):
    """A data-integrity break does not wait for ``consecutive`` windows (decision rule 5)."""
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=22, end=now, transform=unit_change)
    settings = drift_settings(tmp_path, model_dir, feast_repo_dir, consecutive=2)
    job, registry = make_job(settings, baselines, sqlite_store)
    key = (
        "mlmon_drift_detected",
        frozenset({("model", "loan_default"), ("model_version", loaded.version), ("feature", UNIT), ("role", "input")}),
    )

    second = job.run_once(now)
    assert [c.feature for c, _ in second.drifted if c.role == "input"] == [UNIT]
    decision = next(d for c, d in second.drifted if c.feature == UNIT)
    assert decision.immediate and decision.streak == 1 and "data-integrity break" in decision.reason
    [finding] = [f for f in second.findings if f.name == UNIT]
    assert finding.signal == "integrity" and finding.integrity == "unit_change"
    assert finding.fingerprint == "values ≈1,000× the training values — a unit change?"
    assert second.summary().kind.code == "data_integrity"
    check = next(c for c, _ in second.drifted if c.feature == UNIT)
    assert check.summary["cur_mean"] / check.summary["ref_mean"] == pytest.approx(1000, rel=0.25)  # type: ignore[operator]
    assert any("outside the baseline range" in f for f in check.findings)
    assert samples(generate_latest(registry).decode())[key] == 1.0
    doc = sqlite_store.latest_reports("drift", limit=1)[0]
    assert doc["drifted_features"] == [UNIT]
    assert UNIT in doc["summary"] and "DRIFT" in doc["summary"]
    assert doc["incident_summary"]["first_line"].startswith(f"Data-integrity break: {UNIT} values ≈1,000×")

    # The HTML report of the run: self-contained, names the feature, marks it as drift.
    report = Path(second.report_path or "")
    assert report.is_file() and report.parent == settings.reports_path / "loan_default"
    html = report.read_text()
    assert UNIT in html and 'class="drift"' in html and "<svg" in html
    assert f"Data-integrity break: {UNIT} values ≈1,000×" in html  # the structure of the incident email
    assert re.search(r'(src|href)="https?:', html) is None  # no external assets: opens from disk or a mail
    assert (report.parent / "latest.html").read_text() == html

    # Traffic back to normal resets the streak.
    later = now + timedelta(hours=2)
    write_traffic(sqlite_store, loaded, seed=23, end=later, prefix="q")
    third = job.run_once(later)
    assert third.drifted == [] and statuses(third)[(UNIT, "input")] == "no_drift"
    history = json.loads(job.state_path.read_text())
    assert history[f"input:{UNIT}"] == 0


def test_too_few_rows_is_reported_and_exported_without_a_decision(
    tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store
):
    now = utc_now()
    write_traffic(sqlite_store, loaded, n=50, seed=24, end=now, transform=unit_change)
    job, registry = make_job(drift_settings(tmp_path, model_dir, feast_repo_dir), baselines, sqlite_store)
    run = job.run_once(now)
    assert run.status == "insufficient_data" and run.rows == 50
    assert run.checks == [] and run.decisions == []
    assert any("MLMON_MIN_ROWS=200" in n and "MLMON_WINDOW" in n for n in run.notes)
    text = generate_latest(registry).decode()
    promtool_check(text)
    got = samples(text)
    base = frozenset({("model", "loan_default"), ("model_version", loaded.version)})
    assert got[("mlmon_drift_insufficient_data", base)] == 1.0
    assert got[("mlmon_drift_window_rows", base)] == 50
    assert not any(n == "mlmon_drift_detected" for n, _ in got)
    doc = sqlite_store.latest_reports("drift", limit=1)[0]
    assert doc["status"] == "insufficient_data" and "insufficient data" in doc["summary"]
    assert Path(run.report_path or "").is_file()


def test_feature_absent_in_production_is_a_quality_finding(
    tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store
):
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=25, end=now, drop=("bureau_score",))
    job, _ = make_job(drift_settings(tmp_path, model_dir, feast_repo_dir), baselines, sqlite_store)
    run = job.run_once(now)
    by_key = {c.key: c for c in run.checks}
    quality = by_key["quality:bureau_score"]
    assert quality.summary["cur_missing_share"] == 1.0
    assert any("missing" in f for f in quality.findings)
    assert run.decision_for(quality).status == "drift"
    distribution = by_key["input:bureau_score"]
    assert distribution.effect is None and any("no values" in f for f in distribution.findings)
    assert run.decision_for(distribution).status == "insufficient_data"
    assert [c.key for c, _ in run.drifted] == ["quality:bureau_score"]


@pytest.mark.parametrize("exact_ks_max_rows", [50_000, 0], ids=["exact", "binned"])
def test_window_across_a_deploy_compares_only_the_serving_version(
    tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store, exact_ks_max_rows
):
    """The previous version's rows (here with a unit change) share the window with the serving version's
    normal rows: they are left out of the count, the tests, the means and the examples, and the report says so."""
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=29, end=now, transform=unit_change, version="previous", prefix="o")
    write_traffic(sqlite_store, loaded, n=900, seed=30, end=now, prefix="s")
    settings = drift_settings(tmp_path, model_dir, feast_repo_dir, exact_ks_max_rows=exact_ks_max_rows)
    job, _ = make_job(settings, baselines, sqlite_store)
    run = job.run_once(now)
    assert run.path == ("exact" if exact_ks_max_rows else "binned")
    assert (run.status, run.rows, run.other_version_rows) == ("ok", 900, ROWS)
    assert run.drifted == [], [c.key for c, _ in run.drifted]
    assert next(c for c in run.checks if c.key == "output:prediction").n_cur == 900
    unit = next(c for c in run.checks if c.key == f"input:{UNIT}")
    assert 0 < unit.n_cur < 900  # the feature's present values among the 900 (it is often missing)
    assert unit.summary["cur_mean"] / unit.summary["ref_mean"] == pytest.approx(1, rel=0.25)  # type: ignore[operator]
    assert run.example_ids and all(i.startswith("s") for i in run.example_ids)
    assert any(f"{ROWS} row(s) of other model versions" in n and loaded.version in n for n in run.notes)
    doc = sqlite_store.latest_reports("drift", limit=1)[0]
    assert (doc["rows"], doc["other_version_rows"], doc["model_version_filter"]) == (900, ROWS, loaded.version)
    assert any("other model versions" in n for n in doc["notes"])

    # Right after the deploy: too few rows of the new version is "insufficient data", never a mixed window.
    later = now + timedelta(hours=3)
    write_traffic(sqlite_store, loaded, seed=31, end=later, transform=unit_change, version="previous", prefix="o2")
    write_traffic(sqlite_store, loaded, n=50, seed=32, end=later, prefix="s2")
    early = job.run_once(later)
    assert (early.status, early.rows, early.other_version_rows) == ("insufficient_data", 50, ROWS)


def _copy_trained(trained_model: Any, tmp_path: Path) -> tuple[Path, Path, str]:
    """A private copy of the trained model and its Feast repo, free to damage."""
    root = Path(trained_model.path).parents[2]
    target = tmp_path / "trained"
    shutil.copytree(root, target)
    return target / "models" / "loan_default", target / "feature_repo", Path(trained_model.path).name


def test_missing_reference_rows_are_baseline_not_found_naming_the_version(trained_model, tmp_path, loaded):
    model_dir, repo, version = _copy_trained(trained_model, tmp_path)
    (model_dir / version / REFERENCE_FILE).unlink()
    settings = drift_settings(tmp_path, model_dir, repo)
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec)
    job, registry = make_job(settings, None, store)
    with pytest.raises(BaselineNotFound) as info:
        job.run_once()
    assert version in str(info.value) and "mlmon register" in str(info.value)
    got = samples(generate_latest(registry).decode())
    labels = {("model", "loan_default"), ("model_version", "unknown"), ("backend", "registry")}  # no baseline yet
    assert got[("mlmon_backend_errors_total", frozenset(labels))] == 1
    store.close()


def test_new_version_without_reference_rows_is_baseline_not_found(trained_model, tmp_path, loaded):
    model_dir, _repo, version = _copy_trained(trained_model, tmp_path)
    new = "0badc0ffee00"
    shutil.copytree(model_dir / version, model_dir / new)
    meta = json.loads((model_dir / new / METADATA_FILE).read_text())
    meta["version"] = new
    (model_dir / new / METADATA_FILE).write_text(json.dumps(meta))
    profile = json.loads((model_dir / new / PROFILE_FILE).read_text())
    profile["model_version"] = new
    (model_dir / new / PROFILE_FILE).write_text(json.dumps(profile))
    (model_dir / new / REFERENCE_FILE).write_bytes(b"not parquet")
    (model_dir / CURRENT_FILE).write_text(new)
    cache = BaselineCache(model_dir)
    with pytest.raises(BaselineNotFound) as info:
        cache.current()
    assert new in str(info.value)
    (model_dir / CURRENT_FILE).write_text(version)  # the old version still works: the cache re-reads CURRENT
    assert cache.current().version == version


def test_exact_and_binned_paths_agree_on_the_decision(
    tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store
):
    now = utc_now()

    def shifted(frame: Any) -> None:
        unit_change(frame)
        frame.loc[frame.index[: len(frame) // 2], "debt_ratio"] = None  # fill rate 80% → 40%

    write_traffic(sqlite_store, loaded, seed=26, end=now, transform=shifted)
    exact_job, _ = make_job(drift_settings(tmp_path / "exact", model_dir, feast_repo_dir), baselines, sqlite_store)
    binned_job, _ = make_job(
        drift_settings(tmp_path / "binned", model_dir, feast_repo_dir, exact_ks_max_rows=0), baselines, sqlite_store
    )
    exact, binned = exact_job.run_once(now), binned_job.run_once(now)
    assert (exact.path, binned.path) == ("exact", "binned")
    # Decisions agree wherever the effect is not right at its threshold (there, KS and chi-square may differ).
    clear = {c.key for c in binned.checks if c.effect is None or abs(c.score - 1) > 0.1}
    assert {k: v for k, v in statuses(exact).items() if f"{k[1]}:{k[0]}" in clear} == {
        k: v for k, v in statuses(binned).items() if f"{k[1]}:{k[0]}" in clear
    }
    assert {c.key for c, _ in binned.drifted} >= {f"input:{UNIT}", "quality:debt_ratio"}
    assert {c.key for c, _ in exact.drifted} >= {f"input:{UNIT}", "quality:debt_ratio"}
    # Counted-only checks (categories, missing shares, the output class shares) give identical numbers.
    for e, b in zip(exact.checks, binned.checks, strict=False):
        if e.kind != "numeric" and e.key == b.key:
            assert e.effect is not None and b.effect is not None
            assert e.effect.statistic == pytest.approx(b.effect.statistic, rel=1e-9), e.key
    unit_binned = next(c for c in binned.checks if c.key == f"input:{UNIT}")
    assert unit_binned.summary["cur_mean"] / unit_binned.summary["ref_mean"] == pytest.approx(1000, rel=0.25)  # type: ignore[operator]


@pytest.mark.slow
def test_sqlite_and_es_api_server_give_the_same_numbers(
    tmp_path, model_dir, feast_repo_dir, baselines, loaded, sqlite_store, es_url
):
    from mlmon.store.elasticsearch import ElasticsearchStore

    now = utc_now()
    frame = feature_rows(800, 27, unit_change)
    events = events_from_frame(
        loaded.spec, frame, model_scores(loaded, frame), version=loaded.version, end=now, span_s=1800
    )
    es = ElasticsearchStore(es_url, loaded.spec)
    es.ensure_schema()
    try:
        for store in (sqlite_store, es):
            assert store.write_events(events).stored == len(events)
        es.refresh()
        runs = []
        for name, store in (("sqlite", sqlite_store), ("es", es)):
            settings = drift_settings(tmp_path / name, model_dir, feast_repo_dir, exact_ks_max_rows=0)
            job, _ = make_job(settings, baselines, store)
            runs.append(job.run_once(now))
        lite, elastic = runs
        assert lite.path == elastic.path == "binned" and lite.rows == elastic.rows == 800
        assert [c.key for c in lite.checks] == [c.key for c in elastic.checks]
        for a, b in zip(lite.checks, elastic.checks, strict=True):
            assert (a.n_cur, a.n_ref) == (b.n_cur, b.n_ref), a.key
            assert a.cur_shares == pytest.approx(b.cur_shares, abs=1e-12), a.key
            if a.effect is not None:
                assert b.effect is not None
                assert a.effect.statistic == pytest.approx(b.effect.statistic, rel=1e-9, abs=1e-12), a.key
            if a.significance is not None and a.significance.p_value is not None:
                assert b.significance is not None
                assert a.significance.p_value == pytest.approx(b.significance.p_value, rel=1e-6, abs=1e-300)
        assert statuses(lite) == statuses(elastic)
        assert UNIT in [c.feature for c, _ in elastic.drifted]
        [doc] = es.latest_reports("drift", limit=1)
        assert doc["drifted_features"] == [c.feature for c, _ in lite.drifted]
    finally:
        es.close()


@pytest.mark.slow
def test_cli_drift_once_prints_a_summary_and_writes_the_report(
    tmp_path, model_dir, feast_repo_dir, loaded, sqlite_store
):
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=28, end=now - timedelta(seconds=5), transform=unit_change)
    env = {k: v for k, v in child_environment().items() if not k.startswith("MLMON_")}
    env.update(
        {
            "MLMON_STORE": f"sqlite:///{tmp_path / 'inference.db'}",
            "MLMON_MODEL_SPEC": str(SPEC_PATH),
            "MLMON_MODEL_PATH": str(model_dir),
            "MLMON_FEAST_REPO": str(feast_repo_dir),
            "MLMON_VAR_DIR": str(tmp_path / "var"),
            "MLMON_CONSECUTIVE": "1",
            "MLMON_LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
        }
    )
    mlmon = Path(sys.executable).with_name("mlmon")
    args = [str(mlmon)] if mlmon.exists() else [sys.executable, "-m", "mlmon"]
    done = subprocess.run(
        [*args, "drift", "--once"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(f"loan_default {loaded.version}: DRIFT in {UNIT} (input)")
    assert any(line.startswith(UNIT) and line.rstrip().endswith("drift") for line in lines)
    report = next(line for line in lines if line.startswith("HTML report: ")).removeprefix("HTML report: ")
    assert Path(report).is_file() and Path(report).is_relative_to(tmp_path / "var" / "reports")
    assert "Prometheus not configured" in done.stdout
    assert str(REPO) not in report
