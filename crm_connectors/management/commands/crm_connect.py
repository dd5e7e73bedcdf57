"""`manage.py crm_connect <kind> --org <slug> --name <name> [...]`: create or update a connection.

Prints the connection id on stdout. Secrets (--token, --client-secret, --refresh-token, --client-id) go to
the encrypted `credentials`; the rest (--path, --mapping, --base-url) to `config`.
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_connectors.base import ConnectorError
from crm_connectors.services import connection_create
from salesai.core.models import Organization


class Command(BaseCommand):
    help = "Connect an organization to a CRM (or a folder of CSV exports); prints the connection id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", help="connector name: csv, hubspot, salesforce, pipedrive")
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--name", required=True, help="connection name, unique in the organization")
        parser.add_argument("--path", help="CSV: folder holding the exported files")
        parser.add_argument("--mapping", help="CSV: mapping file (.yaml/.json), relative to --path or absolute")
        parser.add_argument("--base-url", help="CRM API base URL (defaults to the connector's setting)")
        parser.add_argument("--interval", type=int, help="minutes between scheduled syncs")
        parser.add_argument("--token", help="API / private-app token")
        parser.add_argument("--client-id", help="OAuth client id")
        parser.add_argument("--client-secret", help="OAuth client secret")
        parser.add_argument("--refresh-token", help="OAuth refresh token")

    def handle(self, *args: object, **options: object) -> None:
        try:
            organization = Organization.objects.get(slug=options["org"])
        except Organization.DoesNotExist:
            raise CommandError(f"no organization {options['org']!r}; create it with org_create") from None
        config = {
            key: options[option]
            for key, option in (("path", "path"), ("mapping_file", "mapping"), ("base_url", "base_url"))
            if options[option]
        }
        oauth = [options["client_id"], options["client_secret"], options["refresh_token"]]
        if options["token"] and any(oauth):
            raise CommandError("give either --token or --client-id/--client-secret/--refresh-token, not both")
        if any(oauth) and not all(oauth):
            raise CommandError("OAuth needs --client-id, --client-secret and --refresh-token together")
        credentials = {
            key: options[key] for key in ("token", "client_id", "client_secret", "refresh_token") if options[key]
        }
        try:
            connection = connection_create(
                organization=organization,
                kind=options["kind"],
                name=options["name"],
                config=config,
                credentials=credentials or None,
                sync_interval_minutes=options["interval"],
            )
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(connection.pk))
