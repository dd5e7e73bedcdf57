"""`manage.py webhook_replay <event_id> [...]` or `webhook_replay --failed [--received] --connection <id>`."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_connectors.models import WebhookEvent
from crm_connectors.webhook_processing import webhook_events_replay


class Command(BaseCommand):
    help = (
        "Replay stored webhook events (by WebhookEvent id), or every failed and/or still-received (never "
        "processed) event of a connection."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event_ids", nargs="*", type=int, help="WebhookEvent ids")
        parser.add_argument("--failed", action="store_true", help="replay every failed event of --connection")
        parser.add_argument(
            "--received",
            action="store_true",
            help="replay every event of --connection still waiting to be processed (e.g. stranded by a broker outage)",
        )
        parser.add_argument("--connection", type=int, help="the connection id (with --failed / --received)")

    def handle(self, *args: object, **options: object) -> None:
        event_ids, connection_id = options["event_ids"], options["connection"]
        statuses = tuple(
            status
            for status, wanted in (
                (WebhookEvent.Status.FAILED, options["failed"]),
                (WebhookEvent.Status.RECEIVED, options["received"]),
            )
            if wanted
        )
        if bool(event_ids) == bool(statuses):
            raise CommandError("give event ids, or --failed and/or --received with --connection <id>")
        if statuses and connection_id is None:
            raise CommandError("--failed / --received need --connection <id>")
        if event_ids:
            missing = set(event_ids) - set(WebhookEvent.objects.filter(pk__in=event_ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no webhook event(s) {', '.join(map(str, sorted(missing)))}")
            events = webhook_events_replay(event_ids=event_ids)
        else:
            events = webhook_events_replay(connection_id=connection_id, statuses=statuses)
        for event in events:
            line = f"event {event.pk} ({event.event_id}): {event.status}"
            self.stdout.write(line + (f": {event.error}" if event.error else ""))
        still_failed = [event.pk for event in events if event.status == WebhookEvent.Status.FAILED]
        if still_failed:
            raise CommandError(f"{len(still_failed)} event(s) still failed")
