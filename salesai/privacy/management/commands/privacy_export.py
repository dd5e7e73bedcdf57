"""`manage.py privacy_export --org <slug> (--email E | --contact ID) [--output FILE]`: everything held about a
person as JSON (GDPR art. 15), audited."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from salesai.privacy.management.commands._person import organization_get, person_arguments_add
from salesai.privacy.selectors import PersonNotFound
from salesai.privacy.services import person_data_export


class Command(BaseCommand):
    help = "Export everything SalesAI holds about one person of an organisation, as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        person_arguments_add(parser)
        parser.add_argument("--output", help="write the JSON to this file instead of standard output")

    def handle(self, *args: object, **options: object) -> None:
        organization = organization_get(options["org"])
        try:
            data = person_data_export(
                organization_id=organization.pk, email=options["email"], contact_id=options["contact"]
            )
        except PersonNotFound as exc:
            raise CommandError(str(exc)) from None
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n", encoding="utf-8")
            self.stdout.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text)
