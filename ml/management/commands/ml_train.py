"""`manage.py ml_train --org <slug> [--task lead_conversion|churn] [--epochs N] [--seed N] [--async]`"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml import training_services
from ml.models import Task
from salesai.core.models import Organization


class Command(BaseCommand):
    help = "Train a model for one organisation and print its held-out metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--task", default=Task.LEAD_CONVERSION, choices=Task.values)
        parser.add_argument("--epochs", type=int, help="maximum epochs (early stopping may stop sooner)")
        parser.add_argument("--seed", type=int, help="seed of the split and of every family's training (default 0)")
        parser.add_argument("--async", dest="run_async", action="store_true", help="queue it on the gpu queue")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"no organisation with slug {options['org']!r}")
        if options["task"] == Task.DEAL_WIN:
            self._train_deals(organization, seed=options["seed"] or 0)
            return
        params = {"epochs": options["epochs"]} if options["epochs"] else {}
        if options["seed"] is not None:
            params["seed"] = options["seed"]
        try:
            if options["run_async"]:
                run = training_services.training_run_start(
                    organization_id=organization.id, task=options["task"], params=params
                )
                self.stdout.write(f"queued training run {run.pk} for {organization.slug} ({options['task']})")
                return
            version = training_services.model_train(
                organization_id=organization.id, task=options["task"], params=params
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        metrics = version.metrics
        split = metrics.get("split_rows", {})
        family = metrics.get("family", "transformer")
        self.stdout.write(
            f"{organization.slug} {version.task} v{version.version} ({version.status}): "
            f"{family} serves ({version.architecture})"
        )
        self.stdout.write(
            f"rows: {version.trained_rows} (train {split.get('train')}, valid {split.get('valid')}, "
            f"test {split.get('test')}), best epoch {metrics.get('best_epoch')}, {metrics.get('training_seconds')}s"
        )
        self.stdout.write("held-out (test) metrics of the served model, calibrated:")
        for key in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "base_rate"):
            value = metrics.get(key)
            self.stdout.write(f"  {key:<17} {'n/a' if value is None else f'{value:.4f}'}")
        # Every family side by side, on the same held-out rows.
        self.stdout.write(f"  {'family':<12} {'roc_auc':>8} {'pr_auc':>8} {'brier':>8} {'ece':>8} {'seconds':>8}")
        families = {"transformer": metrics.get("transformer") or metrics, **(metrics.get("baselines") or {})}
        for name, values in families.items():
            cells = [values.get(k) for k in ("roc_auc", "pr_auc", "brier", "ece", "train_seconds")]
            marker = " <- serves" if name == family else ""
            if values.get("error"):
                self.stdout.write(f"  {name:<12} failed: {values['error']}")
                continue
            self.stdout.write(
                f"  {name:<12} "
                + " ".join(
                    f"{'n/a' if v is None else f'{v:.4f}' if i < 4 else f'{v:.1f}':>8}" for i, v in enumerate(cells)
                )
                + marker
            )
        gate = metrics.get("gate") or {}
        if gate:
            self.stdout.write(
                f"gate: {'promoted' if gate.get('promote') else 'kept as candidate'}: "
                + "; ".join(gate.get("reasons", []))
            )

    def _train_deals(self, organization: Organization, *, seed: int) -> None:
        from ml import deal_services

        try:
            version = deal_services.deal_model_train(organization_id=organization.id, seed=seed)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        metrics = version.metrics
        self.stdout.write(
            f"{organization.slug} deal_win v{version.version} ({version.status}): {metrics.get('family')} serves, "
            f"{version.trained_rows} deal-month rows, horizon {metrics.get('horizon_months')} months"
        )
        self.stdout.write("held-out deals, P(won within the horizon), calibrated:")
        self.stdout.write(f"  {'family':<16} {'roc_auc':>8} {'brier':>8} {'rows':>6}")
        for name, values in (metrics.get("families") or {}).items():
            auc, brier = values.get("roc_auc"), values.get("brier")
            self.stdout.write(
                f"  {name:<16} {'n/a' if auc is None else f'{auc:.4f}':>8} {'n/a' if brier is None else f'{brier:.4f}':>8}"
                f" {values.get('rows', 0):>6}" + (" <- serves" if name == metrics.get("family") else "")
            )
        gate = metrics.get("gate") or {}
        if gate:
            self.stdout.write(
                f"gate: {'promoted' if gate.get('promote') else 'kept as candidate'}: "
                + "; ".join(gate.get("reasons", []))
            )
