"""`manage.py demo_seed`: seed (or re-seed, idempotently) the demo organisation and print the login."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm_connectors.models import SyncRun
from salesai.demo.services import demo_seed

LOGIN_URL = "http://127.0.0.1:8000/app/"


class Command(BaseCommand):
    help = "Create the demo organisation and user and import a synthetic CRM into it (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="password of the demo user (default: DEMO_PASSWORD)")
        parser.add_argument("--seed", type=int, default=7, help="random seed of the synthetic CRM")
        parser.add_argument("--companies", type=int, default=1000)
        parser.add_argument("--contacts", type=int, default=5000)
        parser.add_argument("--deals", type=int, default=2000)
        parser.add_argument("--activities", type=int, default=20000)

    def handle(self, *args, **options):
        try:
            result = demo_seed(
                password=options["password"],
                seed=options["seed"],
                companies=options["companies"],
                contacts=options["contacts"],
                deals=options["deals"],
                activities=options["activities"],
            )
        except ValueError as exc:  # impossible sizes
            raise CommandError(str(exc)) from None
        except ValidationError as exc:  # a password the validators refuse
            raise CommandError(" ".join(exc.messages)) from None

        generated = ", ".join(f"{count} {name}" for name, count in result.generated.items())
        self.stdout.write(f"Generated {generated} in {result.folder} ({result.generate_seconds:.1f}s).")
        state = "created" if result.organization_created else "already existed, updated"
        self.stdout.write(f"Organisation '{result.organization.slug}' {state}; admin user '{result.admin_username}'.")
        run = result.sync_run
        self.stdout.write(
            f"Imported through connection '{result.connection.name}' (sync run {run.pk}, {run.status}, "
            f"{result.import_seconds:.1f}s): {run.created} created, {run.updated} updated, "
            f"{run.unchanged} unchanged, {run.deleted} deleted, {run.failed} failed."
        )
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"the demo import failed: {run.error_summary}")
        if run.failed:
            self.stderr.write(self.style.WARNING(f"Row errors: {run.error_summary}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in at {LOGIN_URL} as user '{result.admin_username}' with password '{result.password}'."
            )
        )
