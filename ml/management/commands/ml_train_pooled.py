"""`manage.py ml_train_pooled [--epochs N]`: the pooled fallback model (needs ML_POOLED_FALLBACK=True)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.pooled import pooled_model_train


class Command(BaseCommand):
    help = "Train the pooled lead model on every organisation's data (for organisations with too few outcomes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--epochs", type=int, help="maximum epochs (early stopping may stop sooner)")

    def handle(self, *args: Any, **options: Any) -> None:
        params = {"epochs": options["epochs"]} if options["epochs"] else {}
        try:
            version = pooled_model_train(params=params)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        metrics = version.metrics
        self.stdout.write(
            f"pooled {version.task} v{version.version} ({version.status}): {version.trained_rows} rows from "
            f"{metrics.get('pooled', {}).get('organizations')} organisations, roc_auc={metrics.get('roc_auc')}"
        )
