"""`mlmon check-config`: validate every service's settings and the model spec; collect all problems."""

from __future__ import annotations

from mlmon.errors import ConfigError
from mlmon.settings import CommonSettings, DriftSettings, ModelServerSettings, StatsSettings, load_settings
from mlmon.spec import load_spec


def check_config() -> list[tuple[str, str]]:
    """Every problem as ``(location, message)``; an empty list means the configuration is usable."""
    problems: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    common: CommonSettings | None = None
    for cls in (CommonSettings, ModelServerSettings, StatsSettings, DriftSettings):
        try:
            settings = load_settings(cls)
            common = common or settings
        except ConfigError as exc:
            for problem in exc.problems:
                if problem not in seen:  # the shared fields fail once per class otherwise
                    seen.add(problem)
                    problems.append(problem)
    if common is None:
        return problems
    try:
        load_spec(common.model_spec)
    except ConfigError as exc:
        problems.extend(exc.problems or [("MLMON_MODEL_SPEC", str(exc))])
    if not (common.feast_repo / "feature_store.yaml").is_file():
        problems.append(("MLMON_FEAST_REPO", f"{common.feast_repo} has no feature_store.yaml"))
    try:
        server = ModelServerSettings()
        if server.feedback_token is None:
            problems.append(("MLMON_FEEDBACK_TOKEN", "not set: POST /feedback will refuse ground truth"))
        elif server.pii_hash_key.get_secret_value() == "change-me":
            problems.append(("MLMON_PII_HASH_KEY", "still the placeholder 'change-me'; set a secret key"))
    except ValueError:
        pass
    return problems
