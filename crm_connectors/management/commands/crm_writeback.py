"""`manage.py crm_writeback <connection_id> [--async]`: write changed lead scores and churn risks into the
CRM and print a summary of each part."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection
from crm_connectors.writeback import connection_writeback, writeback_start


class Command(BaseCommand):
    help = (
        "Write the connection's changed lead scores and churn risks into its CRM inline (default) "
        "or enqueue it (--async)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--async", dest="run_async", action="store_true", help="enqueue on the sync queue")

    def handle(self, *args: object, **options: object) -> None:
        connection_id = options["connection_id"]
        if not CRMConnection.objects.filter(pk=connection_id).exists():
            raise CommandError(f"no connection {connection_id}")
        try:
            if options["run_async"]:
                writeback_start(connection_id=connection_id)
                self.stdout.write(f"writeback of connection {connection_id} queued")
                return
            summary = connection_writeback(connection_id=connection_id)
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary.as_text())
        if summary.error or summary.churn.error or summary.deals.error:
            parts = (
                ("lead scores", summary.error),
                ("churn risk", summary.churn.error),
                ("deal scores", summary.deals.error),
            )
            stopped = "; ".join(f"{part}: {error}" for part, error in parts if error)
            raise CommandError(f"writeback of connection {connection_id} stopped: {stopped}")
