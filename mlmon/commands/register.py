"""`mlmon register` (a model trained anywhere) and `mlmon train` (scikit-learn convenience)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlmon.commands.common import Subparsers, add_model_options, settings_for
from mlmon.settings import CommonSettings

REGISTER_HELP = """\
Register a model version trained anywhere: its reference rows (an entity dataframe file with the spec's
entity keys, event-time column and label, joined with the spec's Feast feature service; or a Feast saved
dataset you already have) and either the model object (--model: a joblib/pickle file of an object with
predict() for regression, predict_proba() and classes_ for classification; it receives a pandas DataFrame
with one column per spec feature: numbers float64 with NaN for missing, categories str or None, booleans
True/False or None) or precomputed predictions (--predictions-column / --scores-column: for models served
outside Python). Writes the version folder under MLMON_MODEL_PATH atomically and makes it the serving one.
"""


def add_register(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "register",
        help="register a model trained anywhere (artifact + Feast baseline)",
        description=REGISTER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(parser)
    rows = parser.add_mutually_exclusive_group(required=True)
    rows.add_argument("--rows", type=Path, help="reference rows: parquet or CSV entity dataframe")
    rows.add_argument("--saved-dataset", help="reference rows: name of an existing Feast saved dataset")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="the model object (joblib or pickle file)")
    what.add_argument("--predictions-column", help="column of precomputed predictions (value or class)")
    parser.add_argument("--scores-column", help="classification: column of the predicted class's probability")
    parser.add_argument("--no-activate", action="store_true", help="do not make this version the serving one")
    parser.set_defaults(handler=_register)


def _register(args: argparse.Namespace) -> int:
    from mlmon.registry.register import Predictor, load_predictor, register
    from mlmon.spec import load_spec

    settings = settings_for(CommonSettings, args)
    spec = load_spec(settings.model_spec)
    if args.model is not None:
        predictor = load_predictor(spec, args.model)
    else:
        predictor = Predictor(predictions_column=args.predictions_column, scores_column=args.scores_column)
    print(f"registering {spec.model} with Feast repo {settings.feast_repo} ...", flush=True)
    result = register(
        spec,
        settings.feast_repo,
        settings.model_dir(spec.model),
        predictor,
        rows_file=args.rows,
        saved_dataset=args.saved_dataset,
        activate=not args.no_activate,
    )
    _print_result(result)
    return 0


def _print_result(result: object) -> None:
    from mlmon.baseline.profile import summary_lines
    from mlmon.registry.register import RegisterResult

    assert isinstance(result, RegisterResult)
    state = " (unchanged)" if result.reused else ""
    print(f"model {result.model} version {result.version} -> {result.path}{state}")
    print(
        f"  reference rows {result.rows} (Feast dropped {result.dropped_rows} outside the TTL), "
        f"saved dataset {result.saved_dataset}"
    )
    if result.metrics:
        print("  reference metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()))
    if result.importance:
        top = sorted(result.importance.items(), key=lambda kv: -kv[1])[:5]
        print("  most important inputs: " + ", ".join(f"{k} {v:.0%}" for k, v in top))
    print("\n".join(summary_lines(result.profile)))


def add_train(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "train",
        help="fit a default scikit-learn model on Feast features and register it",
        description="Join --rows (entity keys, event time, label) with the spec's Feast feature service, fit a "
        "gradient-boosting model for the spec's kind on the older 80%%, and register it with the newest 20%% "
        "as the reference rows.",
    )
    add_model_options(parser)
    parser.add_argument("--rows", type=Path, required=True, help="training rows: parquet or CSV entity dataframe")
    parser.add_argument("--no-activate", action="store_true", help="do not make this version the serving one")
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from mlmon.spec import load_spec
    from mlmon.training.train import train

    settings = settings_for(CommonSettings, args)
    spec = load_spec(settings.model_spec)
    print(f"training {spec.model} from Feast repo {settings.feast_repo} ...", flush=True)
    result = train(spec, settings.feast_repo, settings.model_dir(spec.model), args.rows, activate=not args.no_activate)
    print(f"  fitted on {result.fit_rows} rows, holdout {result.holdout_rows} (the reference)")
    _print_result(result.registered)
    return 0
