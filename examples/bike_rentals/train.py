"""Train the bike_rentals regression with plain scikit-learn on features from Feast (no mlmon here).

    python train.py [--repo feature_repo] [--rows training_rows.parquet] [--out model.joblib]

Builds the training set with Feast's point-in-time join (feature service ``bike_rentals_v1``), holds out a
random 20% of the rows, fits a gradient-boosting regressor (Poisson loss: rentals are counts), prints the
holdout MAE and saves the pipeline with joblib. The pipeline takes a DataFrame with the spec's feature columns:
numeric float64 (NaN when missing), ``weather`` str or None, ``is_holiday`` True/False/None.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from feast import FeatureStore
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

FEATURE_SERVICE = "bike_rentals_v1"
LABEL = "rentals"
NUMERIC = ["temperature_c", "humidity", "wind_speed_kmh", "hour", "weekday", "station_capacity"]
CATEGORIES = {"weather": ["clear", "cloudy", "rain", "snow"], "is_holiday": [False, True]}
FEATURES = [  # in the spec's order
    "temperature_c",
    "humidity",
    "wind_speed_kmh",
    "hour",
    "weekday",
    "is_holiday",
    "weather",
    "station_capacity",
]


def training_set(repo: Path, rows: Path) -> pd.DataFrame:
    """Entity rows (station_id, event_timestamp, rentals) joined with their features as of each timestamp."""
    store = FeatureStore(repo_path=str(repo))
    entity_df = pd.read_parquet(rows)
    job = store.get_historical_features(entity_df=entity_df, features=store.get_feature_service(FEATURE_SERVICE))
    frame = job.to_df()  # Feast drops rows without features inside the TTL and does not keep the order
    return frame.sort_values(["event_timestamp", "station_id"], kind="stable").reset_index(drop=True)


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame mlmon passes to ``predict``: one column per spec feature, in spec order."""
    out = pd.DataFrame(index=frame.index)
    for name in FEATURES:
        column = frame[name]
        if name in NUMERIC:
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            out[name] = column.astype(object).where(column.notna(), None)
    return out


def build_pipeline() -> Pipeline:
    categorical = list(CATEGORIES)
    encoder = OrdinalEncoder(  # None and unknown categories become NaN: missing for the trees
        categories=list(CATEGORIES.values()), handle_unknown="use_encoded_value", unknown_value=np.nan
    )
    encode = ColumnTransformer(
        [("numeric", "passthrough", NUMERIC), ("categorical", encoder, categorical)], verbose_feature_names_out=False
    ).set_output(transform="pandas")
    regressor = HistGradientBoostingRegressor(
        loss="poisson", categorical_features=categorical, max_iter=300, learning_rate=0.08, random_state=0
    )
    return Pipeline([("encode", encode), ("regressor", regressor)])


def train(repo: Path, rows: Path, out: Path, holdout_share: float = 0.2) -> float:
    """Fit on a random 80% of the rows, return the MAE on the other 20%, save the pipeline."""
    frame = training_set(repo, rows)
    holdout = np.random.default_rng(0).random(len(frame)) < holdout_share
    fit, test = frame[~holdout], frame[holdout]
    pipeline = build_pipeline().fit(model_frame(fit), fit[LABEL].astype("float64"))
    mae = float(mean_absolute_error(test[LABEL], pipeline.predict(model_frame(test))))
    joblib.dump(pipeline, out)
    return mae


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"), help="Feast repo (after feast apply)")
    parser.add_argument("--rows", type=Path, default=Path("training_rows.parquet"), help="entity dataframe")
    parser.add_argument("--out", type=Path, default=Path("model.joblib"), help="where to save the model")
    args = parser.parse_args(argv)
    mae = train(args.repo, args.rows, args.out)
    print(f"holdout MAE {mae:.3f} rentals/hour; model saved to {args.out}")


if __name__ == "__main__":
    main()
