"""Small real inputs for instrumentation tests: the demo spec, a profile built by the real profile code."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry

from mlmon.baseline.profile import BaselineProfile, build_profile
from mlmon.demo.data import default_probability, generate_features
from mlmon.spec import ModelSpec


def demo_profile(spec: ModelSpec, rows: int = 2000, seed: int = 3) -> BaselineProfile:
    frame = generate_features(rows, np.random.default_rng(seed))
    return build_profile(spec, "v-test", frame, default_probability(frame), source="test")


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value; 0.0 when the series does not exist (so a missing series fails ``== n`` checks)."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
