"""`manage.py email_eval --org <slug> --n 100 [--backend local|openai|composer] [--json OUT] [--seed S]`"""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.emailgen.evaluation import EvalSetupError, email_eval, email_eval_table
from ml.models import EmailSettings
from salesai.core.models import Organization


class Command(BaseCommand):
    help = (
        "Draft emails for N contacts of an organisation (synchronously, no worker) and report, overall and per "
        "intent: drafts shipped, sentences citing facts vs claiming nothing, rejections by violation code, "
        "violations shipped, compliance, fallback rate, latency p50/p95, the local runtime's model load time "
        "and the process's peak RSS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--n", type=int, default=100, help="number of contacts to draft for")
        parser.add_argument(
            "--backend",
            choices=EmailSettings.Backend.values,
            default=None,
            help="override the organisation's backend for this run",
        )
        parser.add_argument("--seed", type=int, default=0, help="which contacts are picked")
        parser.add_argument("--json", dest="json_out", help="write every figure and per-draft row to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["n"] < 1:
            raise CommandError("--n must be at least 1")
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"no organisation with slug '{options['org']}'")
        try:
            report = email_eval(
                organization=organization,
                n=options["n"],
                seed=options["seed"],
                backend_kind=options["backend"],
                progress=lambda line: self.stderr.write(line),
            )
        except EvalSetupError as exc:
            raise CommandError(str(exc)) from exc
        params = report["params"]
        self.stdout.write(
            f"email_eval: organisation '{params['organization']}', backend {params['backend']}, "
            f"{report['summary']['requests']} contacts (asked for {params['n']}), seed {params['seed']}, "
            f"{params['wall_seconds']:.1f}s"
        )
        if params["interrupted"]:
            self.stdout.write(self.style.WARNING("interrupted: the figures cover the finished requests only"))
        self.stdout.write(email_eval_table(report["summary"]))
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(report, indent=2, default=str))
            self.stdout.write(f"\nall figures written to {options['json_out']}")
        if report["summary"]["violations_shipped"]["total"]:
            raise CommandError("drafts that fail the guardrails were shipped as ready (see the table above)")
