"""`manage.py crm_deal_history <connection_id> [--limit N]`: store the CRM's pipeline stages and backfill the
history of deals not backfilled yet; prints what it did."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_connectors.base import ConnectorError
from crm_connectors.deal_sync import deal_reference_sync
from crm_connectors.models import CRMConnection


class Command(BaseCommand):
    help = "Read the connection's deal pipelines (stage probabilities) and backfill its deals' history from the CRM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--limit", type=int, default=None, help="backfill at most this many deals")

    def handle(self, *args: object, **options: object) -> None:
        connection_id = options["connection_id"]
        if not CRMConnection.objects.filter(pk=connection_id).exists():
            raise CommandError(f"no connection {connection_id}")
        try:
            summary = deal_reference_sync(connection_id=connection_id, backfill_limit=options["limit"])
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None
        if summary.skipped:
            self.stdout.write(summary.skipped)
            return
        self.stdout.write(
            f"{summary.stages} pipeline stages stored; {summary.deals_backfilled} deals backfilled "
            f"({summary.history_rows} history rows)."
        )
