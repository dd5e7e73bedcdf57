"""`manage.py privacy_erase --org <slug> (--email E | --contact ID) --yes`: erase a person everywhere (GDPR
art. 17) and keep them from coming back with the next sync; audited. Irreversible, hence `--yes`."""

from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError, CommandParser

from salesai.privacy.management.commands._person import organization_get, person_arguments_add
from salesai.privacy.selectors import PersonNotFound
from salesai.privacy.services import person_erase


class Command(BaseCommand):
    help = "Erase one person of an organisation from every table, and tombstone them against re-import."

    def add_arguments(self, parser: CommandParser) -> None:
        person_arguments_add(parser)
        parser.add_argument("--yes", action="store_true", help="confirm: the erasure cannot be undone")

    def handle(self, *args: object, **options: object) -> None:
        if not options["yes"]:
            raise CommandError("erasure cannot be undone: add --yes to confirm")
        organization = organization_get(options["org"])
        try:
            report = person_erase(
                organization_id=organization.pk, email=options["email"], contact_id=options["contact"]
            )
        except PersonNotFound as exc:
            raise CommandError(str(exc)) from None
        counts = ", ".join(f"{name}={count}" for name, count in asdict(report).items())
        self.stdout.write(f"erased: {counts}")
