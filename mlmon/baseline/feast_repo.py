"""Access to the Feast repository: apply definitions, build training sets, save and read the baseline.

Feast is imported lazily: ``import feast`` costs 5–6 s, which the model server and the CLI's ``--help`` should
not pay.
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

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

APPLICATIONS_FILE = "data/loan_applications.parquet"
LABELS_FILE = "data/loan_labels.parquet"
SAVED_DIR = "data/saved"
DEFINITIONS_FILE = "features.py"


def saved_dataset_name(model: str, version: str) -> str:
    return f"training_{model}_{version}"


@dataclass(frozen=True)
class TrainingSet:
    rows: pd.DataFrame  # entity columns + features + label, sorted by (event_timestamp, entity id)
    requested: int
    dropped: int  # entity rows Feast returned no features for (outside the TTL or unknown)


def check_repo(repo: Path) -> None:
    problems = []
    if not (repo / "feature_store.yaml").is_file():
        problems.append((str(repo / "feature_store.yaml"), "missing"))
    if not (repo / DEFINITIONS_FILE).is_file():
        problems.append((str(repo / DEFINITIONS_FILE), "missing (entity, source, feature view, feature service)"))
    if problems:
        raise ConfigError(
            f"{repo} is not a Feast repository",
            problems=problems,
            hint="set MLMON_FEAST_REPO to the feature_repo folder",
        )


@contextmanager
def _quiet_feast() -> Iterator[None]:
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
    """Import ``features.py`` of the repo and return its Feast objects (what `feast apply` would apply)."""
    from feast import Entity, FeatureService, FeatureView, FileSource

    path = repo / DEFINITIONS_FILE
    spec = importlib.util.spec_from_file_location(f"_mlmon_feast_defs_{abs(hash(str(path.resolve())))}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"{path}: error while importing the Feast definitions: {exc}") from exc
    finally:
        sys.modules.pop(spec.name, None)
    kinds = (Entity, FileSource, FeatureView, FeatureService)
    objects = [value for value in vars(module).values() if isinstance(value, kinds)]
    if not any(isinstance(o, FeatureService) for o in objects):
        raise ConfigError(f"{path}: defines no FeatureService")
    return objects


def apply(repo: Path) -> FeatureStore:
    store = open_store(repo)
    objects = load_definitions(repo)
    with _quiet_feast():
        store.apply(objects)
    return store


def feature_service_name(repo: Path) -> str:
    from feast import FeatureService

    services = [o for o in load_definitions(repo) if isinstance(o, FeatureService)]
    return str(services[0].name)


def historical_training_set(
    store: FeatureStore, service_name: str, entity_df: pd.DataFrame, entity_key: str
) -> tuple[Any, TrainingSet]:
    """Point-in-time join of ``entity_df`` (keys, event_timestamp, label) with the feature service.

    Feast silently drops entity rows with no feature row inside the TTL: they are counted, not hidden.
    """
    service = store.get_feature_service(service_name)
    with _quiet_feast():
        job = store.get_historical_features(entity_df=entity_df, features=service)
        rows = job.to_df()
    rows = rows.dropna(subset=[c for c in rows.columns if c not in entity_df.columns], how="all")
    rows = rows.sort_values(["event_timestamp", entity_key], kind="stable").reset_index(drop=True)
    dropped = len(entity_df) - len(rows)
    if dropped:
        log.warning("Feast returned no features for %d of %d entity rows (outside the TTL)", dropped, len(entity_df))
    return job, TrainingSet(rows=rows, requested=len(entity_df), dropped=dropped)


def save_training_set(store: FeatureStore, job: Any, repo: Path, model: str, version: str) -> str:
    """Save the training set as a Feast SavedDataset named after the model version; returns its name."""
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    name = saved_dataset_name(model, version)
    (repo / SAVED_DIR).mkdir(parents=True, exist_ok=True)
    storage = SavedDatasetFileStorage(path=f"{SAVED_DIR}/{name}.parquet")
    with _quiet_feast():
        store.create_saved_dataset(
            from_=job, name=name, storage=storage, allow_overwrite=True, tags={"model": model, "model_version": version}
        )
    return name


def read_saved_dataset(repo: Path, model: str, version: str, entity_key: str) -> pd.DataFrame:
    """The saved training set with its label column.

    ``SavedDataset.to_df()`` drops entity-df columns such as ``label``; the parquet file keeps them, so the
    features come through Feast and the label is read back from the file and joined on the entity key.
    """
    from feast.errors import FeastObjectNotFoundException, SavedDatasetNotFound

    name = saved_dataset_name(model, version)
    store = open_store(repo)
    try:
        with _quiet_feast():
            dataset = store.get_saved_dataset(name)
            frame = dataset.to_df()
    except (FeastObjectNotFoundException, SavedDatasetNotFound):
        raise BaselineNotFound(
            f"no Feast saved dataset {name!r} for model {model} version {version} in {repo}",
            hint="run `mlmon train` to create it",
        ) from None
    except OSError as exc:
        # Registered in Feast but its file is gone (cleaned up, another machine's path): same fix.
        raise BaselineNotFound(
            f"the Feast saved dataset {name!r} of model {model} version {version} cannot be read from {repo}: "
            f"{exc.__class__.__name__}",
            hint="re-run `mlmon train` for this version, or point MLMON_FEAST_REPO at the repo that has it",
        ) from exc
    path = Path(dataset.storage.file_options.uri)  # type: ignore[attr-defined]
    path = path if path.is_absolute() else repo / path
    if path.is_file():
        labels = pd.read_parquet(path, columns=[entity_key, "label"])
        frame = frame.merge(labels.drop_duplicates(entity_key), on=entity_key, how="left")
    return frame.sort_values(["event_timestamp", entity_key], kind="stable").reset_index(drop=True)
