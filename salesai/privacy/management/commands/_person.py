"""Arguments shared by privacy_export and privacy_erase: which organisation, which person."""

from django.core.management.base import CommandError, CommandParser

from salesai.core.models import Organization


def person_arguments_add(parser: CommandParser) -> None:
    parser.add_argument("--org", required=True, help="organisation slug")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email address (every contact with it)")
    who.add_argument("--contact", type=int, help="a contact id (and every contact sharing its email)")


def organization_get(slug: str) -> Organization:
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise CommandError(f"no organisation {slug!r}")
    return organization
