"""`manage.py ml_score --org <slug> [--task lead_conversion|churn] [--async]`"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml import churn_services, scoring_services
from ml.models import Task
from ml.tasks import score_accounts
from salesai.core.db_retry import db_call_retried
from salesai.core.models import Organization


class Command(BaseCommand):
    help = "Score every open lead of one organisation with its champion model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument(
            "--task",
            default=Task.LEAD_CONVERSION,
            choices=Task.values,
            help="lead_conversion scores open leads, churn scores customer accounts",
        )
        parser.add_argument("--async", dest="run_async", action="store_true", help="queue it on the gpu queue")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"no organisation with slug {options['org']!r}")
        if options["task"] == Task.CHURN:
            self._score_accounts(organization, run_async=options["run_async"])
            return
        if options["task"] == Task.DEAL_WIN:
            self._score_deals(organization, run_async=options["run_async"])
            return
        if options["run_async"]:
            scoring_services.scoring_enqueue(organization_id=organization.id)
            self.stdout.write(f"queued scoring for {organization.slug}")
            return
        try:
            # A dropped database connection (restart, failover) is retried on a fresh one, not a crash.
            result = db_call_retried(
                lambda: scoring_services.contacts_score(organization_id=organization.id),
                attempts=settings.ML_SCORING_DB_ATTEMPTS,
                what="lead scoring",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"scored {result.scored} contacts of {organization.slug} with model version {result.model_version_id} "
            f"in {result.seconds}s"
        )
        if result.mean_probability is not None:
            self.stdout.write(f"mean probability {result.mean_probability:.4f}")
        widest = max(result.score_histogram.values(), default=0) or 1
        for bucket, count in result.score_histogram.items():
            self.stdout.write(f"  {bucket:>6} {count:>6} {'#' * round(40 * count / widest)}")

    def _score_accounts(self, organization: Organization, *, run_async: bool) -> None:
        if run_async:
            score_accounts.delay(organization.id)
            self.stdout.write(f"queued churn scoring for {organization.slug}")
            return
        try:
            prediction_ids = db_call_retried(
                lambda: churn_services.accounts_score(organization_id=organization.id),
                attempts=settings.ML_SCORING_DB_ATTEMPTS,
                what="churn scoring",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"scored churn risk of {len(prediction_ids)} customer accounts of {organization.slug}")

    def _score_deals(self, organization: Organization, *, run_async: bool) -> None:
        from ml import deal_services
        from ml.tasks import score_deals

        if run_async:
            score_deals.delay(organization.id)
            self.stdout.write(f"queued deal scoring for {organization.slug}")
            return
        scored = deal_services.deals_score(organization_id=organization.id)
        if not scored:
            self.stdout.write(f"no deals scored for {organization.slug} (no deal model yet, or no open deals)")
            return
        self.stdout.write(f"scored {scored} open deals of {organization.slug}")
