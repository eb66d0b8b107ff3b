"""Feast definitions of the demo: loan applications keyed by application_id.

Only definitions live here: `feast apply` imports every .py file of the repo.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, String

application = Entity(
    name="application",
    join_keys=["application_id"],
    value_type=ValueType.INT64,
    description="One loan application",
)

applications_source = FileSource(
    name="loan_applications_source",
    path="data/loan_applications.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

loan_application_features = FeatureView(
    name="loan_application_features",
    entities=[application],
    # An application's features are valid for a day: label rows older than that are dropped by Feast
    # (mlmon train counts and reports them).
    ttl=timedelta(days=1),
    schema=[
        Field(name="income", dtype=Float64),
        Field(name="loan_amount", dtype=Float64),
        Field(name="term_months", dtype=Float64),
        Field(name="age", dtype=Float64),
        Field(name="debt_ratio", dtype=Float64),
        Field(name="seconds_since_last_application", dtype=Float64),
        Field(name="bureau_score", dtype=Float64),
        Field(name="open_credit_lines", dtype=Float64),
        Field(name="employment_type", dtype=String),
        Field(name="region", dtype=String),
        Field(name="channel", dtype=String),
        Field(name="has_coborrower", dtype=Bool),
        Field(name="postcode", dtype=String),
    ],
    source=applications_source,
    online=True,
    tags={"team": "lending", "owner": "mlmon-demo"},
)

loan_default_v1 = FeatureService(
    name="loan_default_v1",
    features=[loan_application_features],
    description="Features of the loan_default model",
)
