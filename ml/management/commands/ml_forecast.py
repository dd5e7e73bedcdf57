"""`manage.py ml_forecast --org <slug> [--scope org|team|owner|pipeline]`: store a bookings forecast and print it."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml import deal_selectors, deal_services
from ml.engine.deals.frames import DealInputError
from ml.models import ForecastRow
from salesai.core.models import Organization


class Command(BaseCommand):
    help = "Forecast bookings for the next months with the deal champion, beside the baselines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--scope", default=ForecastRow.Scope.ORG, choices=ForecastRow.Scope.values)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"no organisation with slug {options['org']!r}")
        try:
            snapshot = deal_services.forecast_create(organization_id=organization.id)
        except (DealInputError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"forecast {snapshot.pk} of {organization.slug} as of {snapshot.as_of} ({snapshot.currency})")
        self.stdout.write(
            f"{'scope':<28}{'month':<9}{'expected':>14}{'p10':>14}{'p50':>14}{'p90':>14}{'new deals':>14}"
        )
        for row in deal_selectors.forecast_rows(snapshot=snapshot, scope=options["scope"]):
            self.stdout.write(
                f"{(row.scope + ' ' + row.scope_value)[:27]:<28}{row.month:%Y-%m}  {row.expected:>14,.0f}"
                f"{row.p10:>14,.0f}{row.p50:>14,.0f}{row.p90:>14,.0f}{row.new_deal_part:>14,.0f}"
            )
        for method in ("stage_weighted", "commit", "run_rate"):
            baseline = deal_selectors.forecast_latest(organization_id=organization.id, method=method)
            if baseline is not None:
                values = ", ".join(
                    f"{r.month:%Y-%m} {r.expected:,.0f}" for r in deal_selectors.forecast_rows(snapshot=baseline)
                )
                self.stdout.write(f"{method:<16}{values}")
