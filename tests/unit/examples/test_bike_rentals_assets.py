"""The bike_rentals example (examples/bike_rentals) as a user runs it, in a temp copy: make_data.py, the real
`feast apply`, the plain scikit-learn training script, then the saved model on the frame mlmon passes to it.

Also the property the end-to-end test relies on: traffic 8 °C warmer than the weather its labels came from
(`mlmon replay --shift temperature_c=+8`) breaches the spec's MAE SLO, the training-period traffic does not.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

# Real Feast and a real training run: slow for the fast tier (`make test-fast` leaves it to `make test`).
pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bike_rentals"
COMMITTED = ["make_data.py", "train.py", "spec.yaml"] + [
    f"feature_repo/{name}" for name in ("feature_store.yaml", "features.py", ".feastignore")
]
ROWS, SEED = 8000, 7
KEYS = ["station_id", "event_timestamp"]
SPEC = yaml.safe_load((EXAMPLE / "spec.yaml").read_text())
FEATURES = [f["name"] for f in SPEC["features"]]


@dataclass(frozen=True)
class Example:
    root: Path
    make_data: ModuleType
    holdout_mae: float
    model: Any


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bike_rentals_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    """The committed files only, copied as a user checks them out; then the README's steps."""
    root = tmp_path_factory.mktemp("bike_rentals")
    for name in COMMITTED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(EXAMPLE / name, root / name)
    make_data, train = _load(root / "make_data.py"), _load(root / "train.py")
    make_data.main(["--rows", str(ROWS), "--seed", str(SEED), "--out", str(root)])
    _run([str(Path(sys.executable).parent / "feast"), "apply"], root / "feature_repo")
    printed = io.StringIO()
    with contextlib.chdir(root), contextlib.redirect_stdout(printed):
        train.main([])  # the script's defaults, from the example folder as in the README
    # The module is not in sys.modules: had the pipeline pickled one of its functions, joblib.dump would have failed.
    match = re.search(r"holdout MAE ([0-9.]+)", printed.getvalue())
    assert match, printed.getvalue()
    return Example(root, make_data, float(match[1]), joblib.load(root / "model.joblib"))


def spec_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The frame mlmon passes to ``predict``: spec features in spec order; numeric float64 with NaN, categorical
    object str/None, boolean object True/False/None."""
    out = pd.DataFrame(index=rows.index)
    for feature in SPEC["features"]:
        column = rows[feature["name"]]
        if feature["type"] == "numeric":
            out[feature["name"]] = column.astype("float64")
        else:
            out[feature["name"]] = pd.Series(
                [None if pd.isna(v) else v for v in column], index=rows.index, dtype=object
            )
    return out


def mae_slo() -> float:
    [bound] = [float(m[1]) for s in SPEC["slos"] if (m := re.fullmatch(r"mae\s*<=\s*([0-9.]+)", s))]
    return bound


def mae(model: Any, rows: pd.DataFrame) -> float:
    return float(np.mean(np.abs(model.predict(spec_frame(rows)) - rows["rentals"])))


def test_make_data_writes_the_source_the_entity_rows_and_the_traffic(example: Example) -> None:
    source = pd.read_parquet(example.root / "feature_repo" / "data" / "station_hours.parquet")
    training = pd.read_parquet(example.root / "training_rows.parquet")
    traffic = pd.read_parquet(example.root / "traffic.parquet")
    assert set(source.columns) == {*KEYS, "created", *FEATURES}
    assert list(training.columns) == [*KEYS, "rentals"]
    assert set(traffic.columns) == {*KEYS, *FEATURES, "rentals"}
    assert len(source) == ROWS == len(training) + len(traffic) and not source.duplicated(KEYS).any()
    for frame in (source, training, traffic):
        assert frame[KEYS].notna().all().all() and str(frame["event_timestamp"].dt.tz) == "UTC"
    cut = example.make_data.TRAFFIC_FROM
    assert training["event_timestamp"].max() < cut <= traffic["event_timestamp"].min()
    assert (training["rentals"] >= 0).all() and training["rentals"].mean() > 3
    # Only humidity has gaps, and a few; categories and ranges as the spec declares.
    assert source.columns[source.isna().any()].tolist() == ["humidity"]
    assert 0.01 < source["humidity"].isna().mean() < 0.06
    specs = {f["name"]: f for f in SPEC["features"]}
    assert set(source["weather"]) == set(specs["weather"]["categories"])
    assert source["is_holiday"].any() and not source["is_holiday"].all()
    for name, feature in specs.items():
        if "range" in feature:
            low, high = feature["range"]
            assert source[name].dropna().between(low, high).all(), name


def test_make_data_is_deterministic_for_a_seed(example: Example) -> None:
    once, again = example.make_data.simulate(500, 3), example.make_data.simulate(500, 3)
    pd.testing.assert_frame_equal(once, again)
    assert not once.equals(example.make_data.simulate(500, 4))


def test_feast_serves_the_spec_features_for_every_training_row(example: Example) -> None:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(example.root / "feature_repo"))
    service = store.get_feature_service(SPEC["feast"]["feature_service"])
    assert [f.name for p in service.feature_view_projections for f in p.features] == FEATURES
    entity_df = pd.read_parquet(example.root / "training_rows.parquet")
    joined = store.get_historical_features(entity_df=entity_df, features=service).to_df()
    assert len(joined) == len(entity_df) and joined["temperature_c"].notna().all()


def test_training_script_reports_a_finite_holdout_mae_under_the_slo(example: Example) -> None:
    assert math.isfinite(example.holdout_mae) and 0 < example.holdout_mae < mae_slo()


def test_saved_model_predicts_on_the_frame_mlmon_passes(example: Example) -> None:
    traffic = pd.read_parquet(example.root / "traffic.parquet").head(50).copy()
    traffic.loc[traffic.index[:5], "humidity"] = np.nan
    traffic["weather"] = traffic["weather"].astype(object)
    traffic.loc[traffic.index[3:8], "weather"] = None
    traffic["is_holiday"] = traffic["is_holiday"].astype(object)
    traffic.loc[traffic.index[6:9], "is_holiday"] = None
    frame = spec_frame(traffic)
    assert list(frame.columns) == FEATURES and frame["humidity"].dtype == np.float64
    predictions = example.model.predict(frame)
    assert predictions.shape == (50,) and np.isfinite(predictions).all() and (predictions >= 0).all()
    # The own app's frame (app.py): one request's fields as pydantic dumps them, None where absent.
    row = dict.fromkeys(FEATURES) | {"hour": 8, "weekday": 1, "station_capacity": 30.0}
    [value] = example.model.predict(pd.DataFrame([row]))
    assert math.isfinite(value) and value >= 0


def test_warmer_traffic_breaches_the_mae_slo_and_the_training_period_does_not(example: Example) -> None:
    traffic = pd.read_parquet(example.root / "traffic.parquet")
    bound = mae_slo()

    def warmer(rows: pd.DataFrame) -> pd.DataFrame:  # mlmon replay --shift temperature_c=+8: labels unchanged
        return rows.assign(temperature_c=rows["temperature_c"] + 8)

    usual, shifted = mae(example.model, traffic), mae(example.model, warmer(traffic))
    assert usual < 0.9 * bound and shifted > 1.5 * bound and shifted > 2 * usual, (usual, shifted)
    # Any stretch of 150 replayed rows (traffic.parquet is in random order) decides the same way.
    windows = [traffic.iloc[start : start + 150] for start in range(0, len(traffic) - 149, 150)]
    assert len(windows) >= 8
    assert max(mae(example.model, w) for w in windows) < bound < min(mae(example.model, warmer(w)) for w in windows)
    # The weather itself 8 °C warmer (same hours and draws): demand keeps rising beyond the training range.
    warm = example.make_data.simulate(ROWS, SEED, warming=8.0)
    warm = warm[warm["event_timestamp"] >= example.make_data.TRAFFIC_FROM]
    assert mae(example.model, warm) > 1.5 * usual


def test_own_app_serves_the_spec_route_with_the_spec_features_in_few_lines() -> None:
    """app.py needs mlmon.instrument.monitor (end-to-end test); here only what it declares is checked."""
    tree = ast.parse((EXAMPLE / "app.py").read_text())
    [request] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "RideRequest"]
    fields = [node.target.id for node in request.body if isinstance(node, ast.AnnAssign)]
    assert fields == FEATURES
    routes = [
        decorator.args[0].value  # type: ignore[attr-defined]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
    ]
    assert routes == SPEC["serving"]["routes"][:1]  # the own app serves the first; the reference server /predict
    user_code = ["spec.yaml", "feature_repo/features.py", "app.py"]
    lines = sum(len((EXAMPLE / name).read_text().splitlines()) for name in user_code)
    assert lines <= 80 and f"\n{lines} lines, comments included" in (EXAMPLE / "README.md").read_text(), lines
