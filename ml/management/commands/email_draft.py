"""`manage.py email_draft --contact <id> [--intent ...] [--tone ...] [--length ...] [--deal <id>]
[--backend local|openai|composer] [--json]`

Requests and generates one draft in this process (no worker needed) and prints it with its evidence.
Exit code 2 when the contact must not be emailed (opted out, suppressed, no address).
"""

import json
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.email_services import EmailRefused, email_draft_create, email_draft_generate
from ml.engine.emailgen.types import LENGTHS, TONES
from ml.models import EmailIntent, EmailSettings, GeneratedEmail
from salesai.core.models import Contact

REFUSED_EXIT_CODE = 2


class Command(BaseCommand):
    help = "Draft a sales email for one contact, synchronously, and print it with its citations and verdict."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contact", type=int, required=True, help="contact id")
        parser.add_argument("--intent", default=EmailIntent.FIRST_TOUCH, choices=EmailIntent.values)
        parser.add_argument("--tone", default=TONES[0], choices=TONES)
        parser.add_argument("--length", default=LENGTHS[0], choices=LENGTHS)
        parser.add_argument("--deal", type=int, default=None, help="deal id (default: the most recent open deal)")
        parser.add_argument(
            "--backend",
            choices=EmailSettings.Backend.values,
            default=None,
            help="override the organisation's backend for this draft",
        )
        parser.add_argument("--json", action="store_true", help="print the stored draft as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        contact = Contact.objects.filter(pk=options["contact"]).only("id", "organization_id").first()
        if contact is None:
            raise CommandError(f"no contact with id {options['contact']}")
        try:
            email = email_draft_create(
                organization_id=contact.organization_id,
                contact_id=contact.id,
                intent=options["intent"],
                options={"tone": options["tone"], "length": options["length"]},
                deal_id=options["deal"],
            )
        except EmailRefused as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"status": "refused", "code": exc.code, "error": exc.message}))
            self.stderr.write(f"refused ({exc.code}): {exc.message}")
            sys.exit(REFUSED_EXIT_CODE)
        except Contact.DoesNotExist as exc:
            raise CommandError(f"contact {contact.id} was deleted") from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        email = email_draft_generate(email_id=email.id, backend_kind=options["backend"])
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(email), indent=2, default=str))
        else:
            self._print(email)
        if email.status == GeneratedEmail.Status.REFUSED:
            sys.exit(REFUSED_EXIT_CODE)
        if email.status != GeneratedEmail.Status.READY:
            raise CommandError(f"draft {email.id} {email.status}: {email.error}")

    def _print(self, email: GeneratedEmail) -> None:
        report = email.guardrail_report or {}
        write = self.stdout.write
        write(f"draft {email.id}: {email.status}")
        if email.error:
            write(f"error: {email.error}")
        if email.status != GeneratedEmail.Status.READY:
            return
        write(
            f"backend: {email.backend} ({email.model_name}), {email.latency_seconds}s"
            f"{', composer fallback' if email.fallback_used else ''}"
        )
        write(
            f"guardrails: {'passed' if report.get('passed') else 'FAILED'}, "
            f"{report.get('claims_checked', 0)} claims checked, {len(report.get('attempts', []))} attempt(s)"
        )
        for attempt in report.get("attempts", []):
            problems = ", ".join(v.get("code", "") for v in attempt.get("violations", [])) or attempt.get("error", "")
            write(
                f"  - {attempt.get('backend')}: {'passed' if attempt.get('passed') else 'rejected'}"
                f"{f' ({problems})' if problems else ''}"
            )
        write("")
        write(f"Subject: {email.subject}")
        write("")
        write(email.body)
        write("")
        write("citations:")
        for citation in email.citations:
            facts = ", ".join(citation.get("fact_ids", [])) or "-"
            write(f"  [{citation.get('sentence_index')}] {facts}: {citation.get('sentence')}")


def _as_json(email: GeneratedEmail) -> dict[str, Any]:
    return {
        "id": email.id,
        "contact": email.contact_id,
        "intent": email.intent,
        "options": email.options,
        "status": email.status,
        "error": email.error,
        "subject": email.subject,
        "body": email.body,
        "citations": email.citations,
        "guardrail_report": email.guardrail_report,
        "backend": email.backend,
        "model_name": email.model_name,
        "fallback_used": email.fallback_used,
        "latency_seconds": email.latency_seconds,
    }
