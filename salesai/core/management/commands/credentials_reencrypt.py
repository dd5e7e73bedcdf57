"""`manage.py credentials_reencrypt [--from-secret-key]`: every stored credential under the newest key."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from salesai.core.fields import secret_key_derived_key
from salesai.core.services import credentials_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first (newest) of FIELD_ENCRYPTION_KEYS. Run it after "
        "prepending a new key; then the old keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from-secret-key",
            action="store_true",
            help="also read values written with the key older releases derived from DJANGO_SECRET_KEY",
        )

    def handle(self, *args: object, **options: object) -> None:
        extra = [secret_key_derived_key(settings.SECRET_KEY)] if options["from_secret_key"] else []
        try:
            result = credentials_reencrypt(extra_keys=extra)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{result.reencrypted} of {result.values} stored values re-encrypted with the newest key "
            f"({', '.join(result.fields)})"
        )
