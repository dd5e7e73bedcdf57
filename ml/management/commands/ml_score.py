"""`manage.py ml_score --org <slug> [--async]`"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml import services
from salesai.core.models import Organization


class Command(BaseCommand):
    help = "Score every open lead of one organisation with its champion model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--async", dest="run_async", action="store_true", help="queue it on the gpu queue")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"no organisation with slug {options['org']!r}")
        if options["run_async"]:
            services.scoring_enqueue(organization_id=organization.id)
            self.stdout.write(f"queued scoring for {organization.slug}")
            return
        try:
            result = services.contacts_score(organization_id=organization.id)
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
