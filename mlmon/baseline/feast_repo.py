"""Access to a Feast repository: apply its definitions, build training sets, save and read the baseline.

Everything about the model comes from its spec: the entity keys and event-time column (``entity``), the
feature service (``feast.feature_service``, or the repo's only one) and the label (``label``: a column of the
entity dataframe, or a field of a feature view). Definitions are read from every ``.py`` file of the repo that
``.feastignore`` does not exclude, as ``feast apply`` does.

Feast is imported lazily: ``import feast`` costs 5–6 s, which the model server and ``--help`` should not pay.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlmon.errors import BaselineNotFound, ConfigError
from mlmon.spec import EntitySpec, ModelSpec

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

SAVED_DIR = "data/saved"


def saved_dataset_name(model: str, version: str) -> str:
    return f"training_{model}_{version}"


@dataclass(frozen=True)
class TrainingSet:
    rows: pd.DataFrame  # entity columns + features + label, sorted by (event time, keys)
    requested: int
    dropped: int  # entity rows Feast returned no features for (outside the TTL or unknown)
    job: Any  # Feast RetrievalJob (for create_saved_dataset)


def entity_of(spec: ModelSpec) -> EntitySpec:
    if spec.entity is None:
        raise ConfigError(
            f"the spec of {spec.model} has no entity section",
            hint="add `entity: {keys: [<join key>], timestamp: event_timestamp}` (the Feast join keys)",
        )
    return spec.entity


def check_repo(repo: Path) -> None:
    if not (repo / "feature_store.yaml").is_file():
        raise ConfigError(
            f"{repo / 'feature_store.yaml'}: missing, so {repo} is not a Feast repository",
            hint="set MLMON_FEAST_REPO to the folder holding feature_store.yaml",
        )


@contextmanager
def quiet_feast() -> Iterator[None]:
    # Feast prints experimental-API warnings on every saved-dataset call; they are noise for users.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def open_store(repo: Path) -> FeatureStore:
    check_repo(repo)
    from feast import FeatureStore

    try:
        return FeatureStore(repo_path=str(repo.resolve()))
    except Exception as exc:  # feast raises many unrelated types for a broken yaml
        raise ConfigError(f"{repo / 'feature_store.yaml'}: cannot open the Feast repo: {exc}") from exc


def load_definitions(repo: Path) -> list[Any]:
    """The Feast objects defined in the repo's ``.py`` files (what `feast apply` would apply)."""
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource
    from feast.repo_operations import get_repo_files

    check_repo(repo)
    kinds = (Entity, DataSource, FeatureView, FeatureService)
    objects: list[Any] = []
    for path in get_repo_files(repo.resolve()):
        spec = importlib.util.spec_from_file_location(f"_mlmon_feast_defs_{abs(hash(str(path)))}", path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{path}: cannot import")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(f"{path}: error while importing the Feast definitions: {exc}") from exc
        finally:
            sys.modules.pop(spec.name, None)
        for value in vars(module).values():
            if isinstance(value, kinds) and not any(value is seen for seen in objects):
                objects.append(value)
    if not any(isinstance(o, FeatureService) for o in objects):
        raise ConfigError(f"{repo}: no FeatureService is defined in its .py files")
    return objects


def apply(repo: Path) -> FeatureStore:
    store = open_store(repo)
    objects = load_definitions(repo)
    with quiet_feast():
        store.apply(objects)
    return store


def feature_service_name(spec: ModelSpec, repo: Path) -> str:
    """The spec's feature service, or the repo's only one; a clear error otherwise."""
    from feast import FeatureService

    services = sorted(str(o.name) for o in load_definitions(repo) if isinstance(o, FeatureService))
    wanted = spec.feast.feature_service
    if wanted is not None:
        if wanted not in services:
            raise ConfigError(
                f"{repo}: feast.feature_service {wanted!r} of the spec is not defined",
                hint=f"defined: {', '.join(services)}",
            )
        return wanted
    if len(services) > 1:
        raise ConfigError(
            f"{repo} defines {len(services)} feature services ({', '.join(services)})",
            hint="name one in the spec: feast: {feature_service: <name>}",
        )
    return services[0]


def service_features(store: FeatureStore, service_name: str) -> list[str]:
    """``view:feature`` references of a feature service (the names the training set's columns carry)."""
    service = store.get_feature_service(service_name)
    refs: list[str] = []
    for projection in service.feature_view_projections:
        for feature in projection.features:
            refs.append(f"{projection.name_alias or projection.name}:{feature.name}")
    return refs


def historical_training_set(
    store: FeatureStore, spec: ModelSpec, service_name: str, entity_df: pd.DataFrame
) -> TrainingSet:
    """Point-in-time join of ``entity_df`` (keys, event time, maybe the label) with the feature service (plus
    the label's feature view when the label lives in Feast).

    Feast silently drops entity rows with no feature row inside the TTL: they are counted, not hidden."""
    entity = entity_of(spec)
    features: Any = store.get_feature_service(service_name)
    if spec.label.source == "feature_view":
        features = [*service_features(store, service_name), f"{spec.label.feature_view}:{spec.label.column}"]
    with quiet_feast():
        job = store.get_historical_features(entity_df=entity_df, features=features, full_feature_names=False)
        rows = job.to_df()
    added = [c for c in rows.columns if c not in entity_df.columns and c != spec.label.column]
    rows = rows.dropna(subset=added, how="all") if added else rows
    rows = rows.sort_values([entity.timestamp, *entity.keys], kind="stable").reset_index(drop=True)
    dropped = len(entity_df) - len(rows)
    if dropped:
        log.warning("Feast returned no features for %d of %d entity rows (outside the TTL)", dropped, len(entity_df))
    return TrainingSet(rows=rows, requested=len(entity_df), dropped=dropped, job=job)


def save_training_set(store: FeatureStore, job: Any, repo: Path, model: str, version: str) -> str:
    """Save the training set as a Feast SavedDataset named after the model version; returns its name."""
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    name = saved_dataset_name(model, version)
    (repo / SAVED_DIR).mkdir(parents=True, exist_ok=True)
    storage = SavedDatasetFileStorage(path=f"{SAVED_DIR}/{name}.parquet")
    with quiet_feast():
        store.create_saved_dataset(
            from_=job, name=name, storage=storage, allow_overwrite=True, tags={"model": model, "model_version": version}
        )
    return name


def read_saved_dataset(repo: Path, name: str) -> pd.DataFrame:
    """A saved dataset with every column it was saved with.

    ``SavedDataset.to_df()`` drops entity-dataframe columns such as the label; the parquet file keeps them, so
    the file behind the dataset is read directly."""
    from feast.errors import FeastObjectNotFoundException, SavedDatasetNotFound

    store = open_store(repo)
    try:
        with quiet_feast():
            dataset = store.get_saved_dataset(name)
    except (FeastObjectNotFoundException, SavedDatasetNotFound):
        raise BaselineNotFound(
            f"no Feast saved dataset {name!r} in {repo}", hint="check the name with `feast saved-datasets list`"
        ) from None
    path = Path(dataset.storage.file_options.uri)  # type: ignore[attr-defined]
    path = path if path.is_absolute() else repo / path
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        # Registered in Feast but its file is gone (cleaned up, another machine's path).
        raise BaselineNotFound(
            f"the Feast saved dataset {name!r} cannot be read from {path}: {exc.__class__.__name__}",
            hint="point MLMON_FEAST_REPO at the repo that has it",
        ) from exc
