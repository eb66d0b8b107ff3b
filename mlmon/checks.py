"""`mlmon check-config`: every service's settings, the spec, the Feast repo and the registered model, checked
together; every problem is collected (one line each), none hides another.

Checks: settings of each service; the spec; the Feast repo (feature service exists, its features cover the
spec's, the entity keys are the views' join keys, a label feature view holds the label field); the registered
model (readable, of the spec's kind, scores one row built from the spec's features); secrets that would make
stored PII reversible or leave /feedback closed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic_settings import BaseSettings

from mlmon.errors import ConfigError, MlmonError
from mlmon.inference_log.pii import key_problem
from mlmon.settings import CommonSettings, DriftSettings, ModelServerSettings, StatsSettings, load_settings
from mlmon.spec import ModelSpec, load_spec

Problem = tuple[str, str]
S = TypeVar("S", bound=BaseSettings)


def _collect(problems: list[Problem], where: str, check: Callable[[], object]) -> object | None:
    """Run ``check``; its MlmonError becomes problems (each listed once)."""
    try:
        return check()
    except MlmonError as exc:
        found = getattr(exc, "problems", None) or [(where, str(exc))]
        problems.extend(p for p in found if p not in problems)
        return None


def _feast_problems(spec: ModelSpec, repo: Path) -> list[Problem]:
    from feast import Entity, FeatureService, FeatureView

    from mlmon.baseline import feast_repo

    where = f"MLMON_FEAST_REPO ({repo})"
    objects = feast_repo.load_definitions(repo)
    name = feast_repo.feature_service_name(spec, repo)
    service = next(o for o in objects if isinstance(o, FeatureService) and o.name == name)
    views = {str(o.name): o for o in objects if isinstance(o, FeatureView)}
    entities = {str(o.name): str(o.join_key) for o in objects if isinstance(o, Entity)}
    problems: list[Problem] = []
    served: set[str] = set()
    join_keys: set[str] = set()
    for projection in service.feature_view_projections:
        served.update(str(f.name) for f in projection.features)
        view = views.get(str(projection.name))
        if view is not None:
            join_keys.update(entities.get(str(name), str(name)) for name in view.entities)
    missing = [f for f in spec.feature_names if f not in served]
    if missing:
        problems.append((where, f"feature service {name!r} lacks spec features: {', '.join(missing)}"))
    if spec.entity is not None:
        unknown = [k for k in spec.entity.keys if k not in join_keys]
        if unknown:
            problems.append(
                (where, f"entity.keys {unknown} are not join keys of {name!r} (it joins on {sorted(join_keys)})")
            )
    if spec.label.source == "feature_view":
        view = views.get(str(spec.label.feature_view))
        if view is None:
            problems.append((where, f"label.feature_view {spec.label.feature_view!r} is not defined"))
        elif spec.label.column not in {str(f.name) for f in view.features}:
            problems.append((where, f"feature view {view.name!r} has no field {spec.label.column!r} (label.column)"))
    return problems


def _model_problems(spec: ModelSpec, settings: CommonSettings) -> list[Problem]:
    import pandas as pd

    from mlmon.registry.artifact import read_registered
    from mlmon.registry.scoring import ModelScorer, check_scores, model_frame
    from mlmon.spec import example_row

    model_dir = settings.model_dir(spec.model)
    where = f"MLMON_MODEL_PATH ({model_dir})"
    registered = read_registered(model_dir)
    problems: list[Problem] = []
    if registered.spec.model_dump() != spec.model_dump():
        same = [f.name for f in registered.spec.features] == spec.feature_names
        what = "other settings" if same else "other features"
        problems.append((where, f"version {registered.version} was registered with {what} than MLMON_MODEL_SPEC"))
    if registered.has_model:
        source = str(registered.path / "model.joblib")
        scorer = ModelScorer(spec, registered.load_model(), source)
        try:
            scored = scorer.score(model_frame(spec, pd.DataFrame([example_row(spec)])))
        except Exception as exc:  # the user's model may raise anything
            problems.append((where, f"the model cannot score one row of the spec's features: {exc}"))
        else:
            check_scores(spec, scored, 1, source)
    return problems


def _load(cls: type[S], problems: list[Problem]) -> S | None:
    """Settings of ``cls``; the fields with a problem fall back to their defaults so that the checks that do
    not depend on them still run (every problem is listed, none hides another)."""
    try:
        return load_settings(cls)
    except ConfigError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
        broken = {loc.removeprefix("MLMON_").lower() for loc, _ in exc.problems}
        defaults = {name: info.get_default(call_default_factory=True) for name, info in cls.model_fields.items()}
        try:
            return load_settings(cls, **{name: defaults[name] for name in broken if name in defaults})
        except ConfigError:
            return None


def check_config() -> list[Problem]:
    """Every problem as ``(location, message)``; an empty list means the configuration is usable."""
    problems: list[Problem] = []
    common = _load(CommonSettings, problems)
    server = _load(ModelServerSettings, problems)
    _load(StatsSettings, problems)
    _load(DriftSettings, problems)
    if common is None:
        return problems
    spec = _collect(problems, "MLMON_MODEL_SPEC", lambda: load_spec(common.model_spec))
    if server is not None:
        if server.feedback_token is None:
            problems.append(("MLMON_FEEDBACK_TOKEN", "not set: POST /feedback will refuse ground truth"))
        problem = key_problem(spec, server.pii_mode, server.pii_hash_key) if isinstance(spec, ModelSpec) else None
        if problem is not None:
            problems.append(("MLMON_PII_HASH_KEY", problem))
    if not isinstance(spec, ModelSpec):
        return problems
    before = len(problems)
    _collect(problems, "MLMON_FEAST_REPO", lambda: problems.extend(_feast_problems(spec, common.feast_repo)))
    if len(problems) == before and spec.entity is None:
        problems.append(("MLMON_MODEL_SPEC", "no entity section: `mlmon register` needs the Feast join keys"))
    _collect(problems, "MLMON_MODEL_PATH", lambda: problems.extend(_model_problems(spec, common)))
    return problems
