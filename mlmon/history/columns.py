"""Which column of a history file holds what. Defaults come from the spec, each can be named on the command line.

    role            default column                            needed
    timestamp       entity.timestamp (else ``timestamp``)     yes: the event time, windows are cut on it
    prediction      ``prediction``                            this or score: the value (regression) or class
    score           ``score``                                 classification: probability of the predicted (binary:
                                                              the positive) class; regression: the value
    prediction_id   ``prediction_id``                         no: derived from the row's content and time
    model_version   ``model_version``                         no: ``--model-version`` or the registered one
    label           label.column (else ``label``)             no: ground truth, loaded as feedback
    label_time      ``label_observed_at``                     no: when the label was known (default: event time)
    response_kind   ``response_kind``                         no: ok / empty / fallback (default: ok, empty when
                                                              the row has no prediction)
    latency_ms      ``latency_ms``                            no: the model's latency (default 0: unknown)
    entity keys     entity.keys                               no: part of the derived prediction id

Spec features are columns named like the features; a feature absent from the file is missing in every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

from mlmon.errors import ConfigError
from mlmon.spec import ModelSpec

ROLES = (
    "timestamp",
    "prediction",
    "score",
    "prediction_id",
    "model_version",
    "label",
    "label_time",
    "response_kind",
    "latency_ms",
)


@dataclass(frozen=True)
class IngestColumns:
    timestamp: str
    prediction: str = "prediction"
    score: str = "score"
    prediction_id: str = "prediction_id"
    model_version: str = "model_version"
    label: str = "label"
    label_time: str = "label_observed_at"
    response_kind: str = "response_kind"
    latency_ms: str = "latency_ms"
    entity_keys: tuple[str, ...] = ()

    @classmethod
    def for_spec(cls, spec: ModelSpec, overrides: Mapping[str, str | None] | None = None) -> IngestColumns:
        """The spec's defaults, with ``overrides`` (role → column; None keeps the default)."""
        entity = spec.entity
        columns = cls(
            timestamp=entity.timestamp if entity is not None else "timestamp",
            label=spec.label.column,
            entity_keys=tuple(entity.keys) if entity is not None else (),
        )
        chosen = {k: v for k, v in (overrides or {}).items() if v}
        unknown = sorted(set(chosen) - set(ROLES))
        if unknown:
            raise ConfigError(f"unknown column role(s): {', '.join(unknown)}", hint=f"roles: {', '.join(ROLES)}")
        return replace(columns, **chosen)  # type: ignore[arg-type]  # every role is a str field

    def present(self, names: Sequence[str]) -> PresentColumns:
        """The roles a file with columns ``names`` has; a ConfigError (one line) when it lacks the event time or
        any prediction."""
        have = set(map(str, names))
        listing = ", ".join(map(str, list(names)[:20]))
        if self.timestamp not in have:
            raise ConfigError(
                f"no event-time column {self.timestamp!r} (entity.timestamp in the spec, or --timestamp-column)",
                hint=f"the file has: {listing}",
            )
        if self.prediction not in have and self.score not in have:
            raise ConfigError(
                f"no prediction column: neither {self.prediction!r} nor {self.score!r}",
                hint=f"name it with --prediction-column or --score-column; the file has: {listing}",
            )
        optional = {
            f.name: getattr(self, f.name) if getattr(self, f.name) in have else None
            for f in fields(self)
            if f.name not in ("timestamp", "entity_keys")
        }
        return PresentColumns(
            timestamp=self.timestamp,
            entity_keys=tuple(k for k in self.entity_keys if k in have),
            **optional,
        )


@dataclass(frozen=True)
class PresentColumns:
    """The columns a given frame has for each role (None: absent)."""

    timestamp: str
    entity_keys: Sequence[str]
    prediction: str | None
    score: str | None
    prediction_id: str | None
    model_version: str | None
    label: str | None
    label_time: str | None
    response_kind: str | None
    latency_ms: str | None

    def describe(self) -> str:
        parts = [f"{role} <- {name}" for role, name in vars(self).items() if isinstance(name, str)]
        if self.entity_keys:
            parts.append(f"entity keys <- {', '.join(self.entity_keys)}")
        return "; ".join(parts)
