"""`manage.py org_create <slug> --admin <username> [--password P] [--name N] [--email E]` (idempotent)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from salesai.core.services import organization_create


class Command(BaseCommand):
    help = "Create (or update) an organization and, optionally, its admin user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="display name (default: the slug)")
        parser.add_argument("--admin", dest="admin_username", help="username of the organization's admin")
        parser.add_argument("--password", help="the admin's password; an existing admin keeps theirs if omitted")
        parser.add_argument("--email", default="", help="the admin's email")

    def handle(self, *args: object, **options: object) -> None:
        try:
            result = organization_create(
                slug=options["slug"],
                name=options["name"],
                admin_username=options["admin_username"],
                admin_password=options["password"],
                admin_email=options["email"],
            )
        except ValidationError as exc:  # the password validators' reasons
            raise CommandError(" ".join(exc.messages)) from None
        org = result.organization
        state = "created" if result.organization_created else "exists"
        self.stdout.write(f"organization {org.slug} (id {org.pk}) {state}")
        if result.admin_user is not None:
            state = "created" if result.admin_user_created else "updated"
            self.stdout.write(f"admin {result.admin_user.get_username()} {state}")
