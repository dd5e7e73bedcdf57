"""`manage.py demo_pipeline`: seed the demo CRM, train and score the lead, churn and deal models and forecast
bookings (what `make demo` does before it starts the servers), printing each step's wall-clock time."""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

from salesai.demo.pipeline import DEMO_STEPS


class Command(BaseCommand):
    help = "Seed the demo organisation, train and score its lead and churn models; prints each step's time."

    def handle(self, *args, **options):
        timings = []
        for step in DEMO_STEPS:
            self.stdout.write(f"\n==> {step.title}")
            started = time.monotonic()
            call_command(step.command, *step.args, stdout=self.stdout, stderr=self.stderr)
            timings.append((step, time.monotonic() - started))
        self.stdout.write("\ndemo pipeline step times:")
        for step, seconds in timings:
            self.stdout.write(f"  {seconds:7.1f}s  manage.py {' '.join((step.command, *step.args))}")
        self.stdout.write(f"  {sum(s for _, s in timings):7.1f}s  total")
