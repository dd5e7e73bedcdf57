"""`manage.py crm_sync <connection_id> [--full] [--async]`: sync now and print the report, or enqueue."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.selectors import sync_run_report
from crm_connectors.services import sync_run_start
from crm_connectors.sync import connection_sync


class Command(BaseCommand):
    help = "Sync a CRM connection inline (default) or enqueue it on the sync queue (--async)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--full", action="store_true", help="ignore saved cursors and read everything")
        parser.add_argument("--async", dest="run_async", action="store_true", help="enqueue and print the run id")

    def handle(self, *args: object, **options: object) -> None:
        connection_id = options["connection_id"]
        if not CRMConnection.objects.filter(pk=connection_id).exists():
            raise CommandError(f"no connection {connection_id}")
        if options["run_async"]:
            run = sync_run_start(connection_id=connection_id, full=options["full"])
            self.stdout.write(str(run.pk))
            return
        run = connection_sync(connection_id=connection_id, full=options["full"])
        self.stdout.write(sync_run_report(sync_run=run))
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"sync run {run.pk} failed")
