"""Synthetic hourly bike rentals per station, shaped like the UCI Bike Sharing dataset (no internet here).

    python make_data.py [--rows 20000] [--seed 7] [--out .]

Writes, under ``--out``:
- ``feature_repo/data/station_hours.parquet``: the Feast FileSource (station_id, event_timestamp, created and
  the features) of every sampled station-hour from 2024-11-01 to 2025-03-31;
- ``training_rows.parquet``: the entity dataframe of the training period (November to February): station_id,
  event_timestamp, rentals;
- ``traffic.parquet``: the later rows (March 2025), keys, features and rentals, to replay to a server; in
  random order, so that a replay of any length stands for the whole month, not for its first days.

The data-generating process (numbers invented, shapes as in the UCI data; see README.md):
- weather is city-wide per hour: temperature = a yearly cycle (daily mean 9 °C on 1 November, 0 °C on
  1 February) + a daily cycle (warmest at 15:00) + a slow random walk; the sky (clear, cloudy, rain; snow below
  1 °C) persists for hours; humidity rises with rain and falls with temperature, 3% of rows lack it; wind is
  stronger in rain;
- rentals of a station-hour: an over-dispersed Poisson count with mean = station size x daily profile
  (commuter peaks at 8:00 and 17:30 on working days, a midday hump on weekends and holidays) x exp(0.1 per °C)
  x sky x wind x humidity effects.
The rows are a random sample of station-hours of a city with ``max(50, rows // 50)`` stations: Feast's file offline
store pairs each entity row with every feature row of its station, so fewer rows per station keep it fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

START, END = pd.Timestamp("2024-11-01", tz="UTC"), pd.Timestamp("2025-04-01", tz="UTC")
TRAFFIC_FROM = pd.Timestamp("2025-03-01", tz="UTC")
HOLIDAYS = {"2024-11-01", "2024-12-24", "2024-12-25", "2024-12-26", "2024-12-31", "2025-01-01", "2025-01-06"}
SKIES = np.array(["clear", "cloudy", "rain"], dtype=object)
SKY_EFFECT = {"clear": 1.0, "cloudy": 0.85, "rain": 0.4, "snow": 0.3}


def _weather(hours: pd.DatetimeIndex, rng: np.random.Generator, warming: float) -> pd.DataFrame:
    n = len(hours)
    day = hours.dayofyear.to_numpy() + hours.hour.to_numpy() / 24
    seasonal = 9 - 9 * np.cos(2 * np.pi * (day - 32) / 365.25)  # daily mean: 9 °C on 1 Nov, 0 °C on 1 Feb
    daily = 3.5 * np.sin(2 * np.pi * (hours.hour.to_numpy() - 9) / 24)
    walk = np.zeros(n)
    for i, step in enumerate(rng.normal(0, 0.6, n)):  # AR(1), stationary sd about 2.5 °C
        walk[i] = 0.97 * walk[i - 1] + step if i else step * 4  # starts at the stationary spread
    temperature = seasonal + daily + walk + warming
    sky = np.empty(n, dtype=object)
    state = 0
    for i, (stay, draw) in enumerate(zip(rng.random(n), rng.choice(3, n, p=[0.35, 0.4, 0.25]), strict=True)):
        state = state if stay < 0.95 else draw
        sky[i] = SKIES[state]
    wet = sky == "rain"
    sky[wet & (temperature < 1)] = "snow"
    humidity = 75 + 15 * wet + 5 * (sky == "cloudy") - 1.2 * (temperature - 5) + rng.normal(0, 6, n)
    wind = rng.gamma(2.0, 6.0, n) + 8 * wet
    return pd.DataFrame(
        {
            "temperature_c": temperature.round(1),
            "humidity": np.clip(humidity, 20, 100).round(0),
            "wind_speed_kmh": np.clip(wind, 0, 90).round(1),
            "weather": sky,
        }
    )


def _profile(hour: np.ndarray, workday: np.ndarray) -> np.ndarray:
    commute = 0.15 + 1.6 * np.exp(-(((hour - 8) / 1.2) ** 2)) + 1.3 * np.exp(-(((hour - 17.5) / 1.6) ** 2))
    commute += 0.5 * np.exp(-(((hour - 12.5) / 2.5) ** 2))
    leisure = 0.1 + 1.0 * np.exp(-(((hour - 14) / 3.5) ** 2))
    night = np.where((hour >= 1) & (hour <= 5), 0.3, 1.0)
    return np.where(workday, commute, 0.8 * leisure) * night


def simulate(rows: int = 20_000, seed: int = 7, warming: float = 0.0) -> pd.DataFrame:
    """One row per sampled station-hour: keys, timestamps, features and rentals. ``warming`` (°C) shifts the
    weather itself (same seed, same hours): the rentals then follow the warmer weather."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(START, END, freq="h", inclusive="left")
    stations = max(50, rows // 50)  # Feast's file store pairs each entity row with all rows of its station
    capacity = rng.integers(12, 49, stations)
    popularity = capacity / 25 * rng.lognormal(0, 0.1, stations)
    weather = _weather(hours, rng, warming)
    cell = np.sort(rng.choice(stations * len(hours), size=rows, replace=False))
    hour_ix, station_ix = cell // stations, cell % stations
    ts = hours[hour_ix]
    frame = weather.iloc[hour_ix].reset_index(drop=True)
    frame.loc[rng.random(rows) < 0.03, "humidity"] = np.nan
    frame.insert(0, "station_id", 101 + station_ix)
    frame.insert(1, "event_timestamp", ts)
    frame.insert(2, "created", ts + pd.Timedelta(minutes=5))
    frame["hour"] = ts.hour.to_numpy().astype("int64")
    frame["weekday"] = ts.weekday.to_numpy().astype("int64")  # 0 = Monday
    frame["is_holiday"] = np.isin(ts.strftime("%Y-%m-%d"), list(HOLIDAYS))
    frame["station_capacity"] = capacity[station_ix].astype("int64")
    workday = (frame["weekday"].to_numpy() < 5) & ~frame["is_holiday"].to_numpy()
    rate = 30 * popularity[station_ix] * _profile(frame["hour"].to_numpy(), workday)
    rate *= np.exp(0.1 * (weather["temperature_c"].to_numpy()[hour_ix] - 5))
    rate *= frame["weather"].map(SKY_EFFECT).to_numpy() * np.exp(-0.02 * (frame["wind_speed_kmh"].to_numpy() - 10))
    rate *= np.exp(-0.008 * (weather["humidity"].to_numpy()[hour_ix] - 70))
    frame["rentals"] = rng.poisson(rate * rng.gamma(50, 1 / 50, rows)).astype("int64")
    return frame


def write(out: Path, rows: int = 20_000, seed: int = 7) -> dict[str, Path]:
    return {name: path for name, (path, _) in write_counted(out, rows, seed).items()}


def write_counted(out: Path, rows: int = 20_000, seed: int = 7) -> dict[str, tuple[Path, int]]:
    """The three files and how many rows each got."""
    frame = simulate(rows, seed)
    data = out / "feature_repo" / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = {
        "source": data / "station_hours.parquet",
        "training": out / "training_rows.parquet",
        "traffic": out / "traffic.parquet",
    }
    frame.drop(columns="rentals").to_parquet(paths["source"], index=False)
    later = frame["event_timestamp"] >= TRAFFIC_FROM
    frame.loc[~later, ["station_id", "event_timestamp", "rentals"]].to_parquet(paths["training"], index=False)
    traffic = frame.loc[later].drop(columns="created").sample(frac=1, random_state=seed)
    traffic.to_parquet(paths["traffic"], index=False)
    counts = {"source": len(frame), "training": int((~later).sum()), "traffic": len(traffic)}
    return {name: (path, counts[name]) for name, path in paths.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="station-hours to sample (default 20000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="example folder")
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error(f"--rows {args.rows}: give at least 100 station-hours")
    # Counted in memory: reading the files back just before exit can abort the interpreter at shutdown
    # (pyarrow's thread pool torn down under it, apache/arrow#34314).
    for name, (path, count) in write_counted(args.out, args.rows, args.seed).items():
        print(f"{name:9s} {count:6d} rows  {path}")


if __name__ == "__main__":
    main()
