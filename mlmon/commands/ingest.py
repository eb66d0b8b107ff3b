"""`mlmon ingest FILE`: load past predictions into the inference store (before `mlmon backtest`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlmon.commands.common import Subparsers, add_model_options, settings_for
from mlmon.errors import ConfigError

INGEST_HELP = """\
Load historical predictions into the inference store (MLMON_STORE) through the same validation, PII handling
and bulk writes as live events: one row per prediction with the spec's features, the prediction (the value of a
regression, the class of a classifier) or its score, the event time, and optionally the model version, the
prediction id, the label and when the label was known. A row the live path would refuse is rejected with its
reason; the others load. Loading the same rows again stores each prediction once (ids come from the file's
prediction_id column, else from a hash of the row's content and time); labels are upserted.

Column defaults come from the spec (entity.timestamp, label.column, entity.keys) and the names prediction, score,
prediction_id, model_version, label_observed_at, response_kind, latency_ms; rename any with the options below.
"""


def add_ingest(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "ingest",
        help="load historical predictions (parquet/CSV or Feast) into the inference store",
        description=INGEST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(parser)
    parser.add_argument("file", nargs="?", type=Path, help="parquet or CSV file of predictions")
    parser.add_argument("--saved-dataset", help="read the rows from this Feast saved dataset instead of FILE")
    parser.add_argument(
        "--features-from-feast",
        action="store_true",
        help="FILE is an entity dataframe (keys, event time, predictions, labels): join the features from Feast",
    )
    parser.add_argument("--feature-service", help="with --features-from-feast: not the spec's feature service")
    columns = parser.add_argument_group("columns (defaults from the spec)")
    for role, what in (
        ("timestamp", "event time (default: entity.timestamp of the spec)"),
        ("prediction", "predicted value or class (default: prediction)"),
        ("score", "score: probability of the predicted (binary: positive) class (default: score)"),
        ("id", "prediction id (default: prediction_id; absent: derived from the row)"),
        ("version", "model version (default: model_version)"),
        ("label", "ground truth (default: label.column of the spec)"),
        ("label-time", "when the label was known (default: label_observed_at; absent: the event time)"),
        ("kind", "response kind ok/empty/fallback (default: response_kind)"),
        ("latency", "the model's latency in ms (default: latency_ms; absent: 0, unknown)"),
    ):
        columns.add_argument(f"--{role}-column", metavar="NAME", help=what)
    parser.add_argument("--model-version", help="version of rows without one (default: the registered version)")
    parser.add_argument("--chunk-rows", type=int, default=5000, help="rows per bulk write (default 5000)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from mlmon.errors import ModelNotLoaded
    from mlmon.history import sources
    from mlmon.history.columns import IngestColumns
    from mlmon.history.convert import RowConverter
    from mlmon.history.ingest import ingest
    from mlmon.history.progress import Progress
    from mlmon.inference_log.pii import PiiProtector
    from mlmon.instrument.events import EventBuilder
    from mlmon.registry.artifact import read_registered
    from mlmon.settings import ModelServerSettings
    from mlmon.spec import load_spec
    from mlmon.store.factory import open_store

    if (args.file is None) == (args.saved_dataset is None):
        raise ConfigError("give a FILE or --saved-dataset NAME (one of them)")
    if args.chunk_rows < 1:
        raise ConfigError("--chunk-rows must be at least 1")
    settings = settings_for(ModelServerSettings, args)
    spec = load_spec(settings.model_spec)
    overrides = {
        "timestamp": args.timestamp_column,
        "prediction": args.prediction_column,
        "score": args.score_column,
        "prediction_id": args.id_column,
        "model_version": args.version_column,
        "label": args.label_column,
        "label_time": args.label_time_column,
        "response_kind": args.kind_column,
        "latency_ms": args.latency_column,
    }
    columns = IngestColumns.for_spec(spec, overrides)
    if args.saved_dataset is not None:
        source = sources.from_saved_dataset(settings.feast_repo, args.saved_dataset, args.chunk_rows)
    elif args.features_from_feast:
        source = sources.from_feature_service(
            settings.feast_repo, spec, args.file, args.feature_service, args.chunk_rows
        )
    else:
        source = sources.from_file(args.file, spec, columns, args.chunk_rows)
    present = columns.present(source.columns)
    version = args.model_version
    if version is None:
        try:
            version = read_registered(settings.model_dir(spec.model)).version
        except ModelNotLoaded:
            if present.model_version is None:
                raise ConfigError(
                    f"no model version: the file has no {columns.model_version!r} column and no version of "
                    f"{spec.model} is registered in {settings.model_dir(spec.model)}",
                    hint="pass --model-version, or --version-column",
                ) from None
            version = "unknown"
    pii = PiiProtector(spec, settings.pii_mode, settings.pii_hash_key)
    converter = RowConverter(spec, EventBuilder(spec, version, pii), present, version)
    print(f"ingesting {source.description} into {spec.model} ({present.describe()})", file=sys.stderr)
    store = open_store(settings, spec)
    try:
        progress = None if args.quiet else Progress("ingest", source.total)
        summary = ingest(source, converter, store, retention_days=settings.store_retention_days, progress=progress)
    finally:
        store.close()
    print("\n".join(summary.lines()))
    return 0 if summary.loaded + summary.already_present > 0 or summary.rows == 0 else 1
