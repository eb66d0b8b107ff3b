"""Feast definitions of the bike_rentals example (`feast apply` imports every .py file here)."""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, Int64, String

station = Entity(name="station", join_keys=["station_id"], value_type=ValueType.INT64)
source = FileSource(
    path="data/station_hours.parquet", timestamp_field="event_timestamp", created_timestamp_column="created"
)
station_hours = FeatureView(
    name="station_hours",
    entities=[station],
    ttl=timedelta(hours=1),  # one row per station and hour
    source=source,
    schema=[
        Field(name="temperature_c", dtype=Float64),
        Field(name="humidity", dtype=Float64),
        Field(name="wind_speed_kmh", dtype=Float64),
        Field(name="hour", dtype=Int64),
        Field(name="weekday", dtype=Int64),
        Field(name="is_holiday", dtype=Bool),
        Field(name="weather", dtype=String),
        Field(name="station_capacity", dtype=Int64),
    ],
)
bike_rentals_v1 = FeatureService(name="bike_rentals_v1", features=[station_hours])
