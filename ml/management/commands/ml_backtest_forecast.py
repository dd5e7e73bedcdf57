"""`manage.py ml_backtest_forecast --org SLUG | --csv FOLDER [--origins N] [--horizon 3] [--json OUT]`

Replays rolling monthly origins (training only on what was known at each) and prints the WAPE of monthly
bookings and the 80% interval coverage of our forecast beside the stage-weighted pipeline, the CRM's commit and
the trailing run-rate, then per-deal ROC-AUC and Brier of every family (mean ± sd over origins)."""

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.deal_features import deal_source_build, deal_source_maven
from ml.engine.deals.backtest import backtest_origins, backtest_run, backtest_table
from ml.engine.deals.frames import DealInputError
from ml.engine.deals.models import FAMILIES
from ml.engine.deals.transformer import DealNetParams
from ml.engine.inference import torch_threads_set
from salesai.core.models import Organization


class Command(BaseCommand):
    help = "Backtest the bookings forecast and the deal win models on an organisation or the Maven CRM data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="organisation slug")
        parser.add_argument("--csv", help="folder of the Maven 'CRM Sales Opportunities' CSVs (instead of --org)")
        parser.add_argument("--horizon", type=int, default=3, help="months ahead")
        parser.add_argument("--origins", type=int, default=6, help="the last N monthly origins with a full horizon")
        parser.add_argument("--min-train-origins", type=int, default=2, help="labelled origins before the first one")
        parser.add_argument("--families", default=",".join(FAMILIES[:-1]), help="learned families to fit")
        parser.add_argument("--draws", type=int, default=2000, help="Monte Carlo draws")
        parser.add_argument("--net-seconds", type=float, default=60.0, help="Transformer time budget per origin")
        parser.add_argument("--lightgbm-configs", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", dest="json_out", help="write the table (per method: wape, coverage_80) here")

    def handle(self, *args: Any, **options: Any) -> None:
        torch_threads_set(settings.ML_TORCH_THREADS)
        if bool(options["org"]) == bool(options["csv"]):
            raise CommandError("give exactly one of --org and --csv")
        try:
            if options["csv"]:
                source = deal_source_maven(folder=options["csv"])
            else:
                organization = Organization.objects.filter(slug=options["org"]).first()
                if organization is None:
                    raise CommandError(f"no organisation with slug {options['org']!r}")
                source = deal_source_build(organization_id=organization.id)
            origins = backtest_origins(
                source=source,
                horizon=options["horizon"],
                count=options["origins"],
                min_train_origins=options["min_train_origins"],
            )
            families = tuple(name.strip() for name in options["families"].split(",") if name.strip())
            result = backtest_run(
                source=source,
                origins=origins,
                horizon=options["horizon"],
                families=families,
                draws=options["draws"],
                seed=options["seed"],
                lightgbm_configs=options["lightgbm_configs"],
                net_params=DealNetParams(seed=options["seed"], max_seconds=options["net_seconds"]),
                log=self.stdout.write,
            )
        except (DealInputError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        summary = result.summary()
        self.stdout.write(backtest_table(summary))
        self.stdout.write(f"{result.seconds:.0f}s")
        if options["json_out"]:
            with open(options["json_out"], "w") as handle:
                json.dump({**summary, "months": result.months, "per_origin": result.deal_metrics}, handle, indent=1)
