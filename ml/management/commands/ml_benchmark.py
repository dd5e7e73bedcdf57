"""`manage.py ml_benchmark --csv PATH --target COL [--positive V] [--drop COL ...] [--text COL ...] [--folds 5]
[--json OUT] [--epochs N] [--models transformer,lightgbm,logistic] [--na-values V ...]`"""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.engine.benchmark import MODELS, benchmark_dataset_load, benchmark_run, benchmark_table
from ml.engine.inference import torch_threads_set
from ml.engine.training import TrainingParams


class Command(BaseCommand):
    help = "Compare the FT-Transformer with tuned LightGBM and logistic regression on a CSV (stratified K folds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--csv", required=True, help="path of the CSV file")
        parser.add_argument("--target", required=True, help="label column")
        parser.add_argument("--positive", help="target value that counts as positive (default: 1/True/Yes)")
        parser.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to leave out")
        parser.add_argument("--text", nargs="+", default=[], metavar="COL", help="free-text columns")
        parser.add_argument("--na-values", nargs="+", default=[], metavar="VALUE", help="extra missing markers")
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, help="Transformer maximum epochs (early stopping may stop sooner)")
        parser.add_argument("--params", default="{}", help="Transformer TrainingParams overrides as JSON")
        parser.add_argument(
            "--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS)
        )
        parser.add_argument("--lightgbm-configs", type=int, default=16, help="random-search size for LightGBM")
        parser.add_argument("--threads", type=int, default=None, help="CPU threads (default ML_TORCH_THREADS)")
        parser.add_argument("--json", dest="json_out", help="write every per-fold number to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        threads = options["threads"] or settings.ML_TORCH_THREADS
        torch_threads_set(threads)
        try:
            overrides = json.loads(options["params"])
            if options["epochs"]:
                overrides["epochs"] = options["epochs"]
            params = TrainingParams.from_dict({"seed": options["seed"], "device": "cpu", **overrides})
            dataset = benchmark_dataset_load(
                csv_path=options["csv"],
                target=options["target"],
                positive=options["positive"],
                drop=options["drop"],
                text=options["text"],
                na_values=options["na_values"],
            )
            models = [name.strip() for name in options["models"].split(",") if name.strip()]
            self.stdout.write(
                f"{options['csv']}: {len(dataset.frame)} rows, {int(dataset.labels.sum())} positive "
                f"({dataset.labels.mean():.2%}), {len(dataset.schema.columns)} feature columns; "
                f"{options['folds']} stratified folds, seed {options['seed']}, {threads} thread(s)"
            )
            for note in dataset.notes:
                self.stdout.write(f"note: {note}")
            result = benchmark_run(
                dataset=dataset,
                folds=options["folds"],
                seed=options["seed"],
                models=models,
                params=params,
                n_jobs=threads,
                lightgbm_configs=options["lightgbm_configs"],
                progress=lambda line: self.stderr.write(line),
            )
        except (ValueError, OSError, json.JSONDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("")
        self.stdout.write(benchmark_table(result))
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(result.to_dict(), indent=2, default=_json_default))
            self.stdout.write(f"\nper-fold numbers written to {options['json_out']}")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
