"""The team's own server: `BIKE_MODEL=model.joblib uvicorn app:app` (mlmon settings from MLMON_*)."""

import os

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, Field

from mlmon.instrument import monitor


class RideRequest(BaseModel):
    temperature_c: float | None = None
    humidity: float | None = None
    wind_speed_kmh: float | None = None
    hour: int = Field(ge=0, le=23)
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    is_holiday: bool | None = None
    weather: str | None = Field(default=None, description="clear, cloudy, rain or snow")
    station_capacity: float | None = None


app = FastAPI(title="bike rentals")
mon = monitor(app)  # golden signals, input/output metrics, inference log, /metrics, /feedback
model = joblib.load(os.environ["BIKE_MODEL"])


@app.post("/v1/rentals")
def predict(ride: RideRequest) -> dict[str, object]:
    row = ride.model_dump()
    rentals = float(model.predict(pd.DataFrame([row]))[0])
    [prediction_id] = mon.record([row], [rentals])
    return {"prediction_id": prediction_id, "rentals": rentals}
