"""Nightly retraining + rescoring per organisation, as django-celery-beat rows (the DatabaseScheduler reads
them, so schedules live in the database and can be edited in the admin)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from salesai.core.models import Organization

NIGHTLY_TASK = "ml.tasks.retrain_and_score"
SCORING_SWEEP_TASK = "ml.tasks.sweep_pending_scoring"
SCORING_SWEEP_ENTRY = "ml-scoring-sweep"
DEALS_NIGHTLY_TASK = "ml.tasks.deals_nightly"


def ml_schedules_ensure(*, organization_id: int) -> PeriodicTask:
    """Create (or repair) the organisation's nightly retrain-and-rescore schedule at
    settings.ML_RETRAIN_CRON_HOUR. Idempotent: calling it again changes nothing but drifted fields."""
    organization = Organization.objects.get(pk=organization_id)
    with transaction.atomic():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour=str(settings.ML_RETRAIN_CRON_HOUR),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=ZoneInfo(settings.CELERY_TIMEZONE),
        )
        periodic, _ = PeriodicTask.objects.update_or_create(
            name=f"ml nightly retrain + rescoring: {organization.slug}",
            defaults={
                "task": NIGHTLY_TASK,
                "crontab": crontab,
                "interval": None,
                "args": json.dumps([organization.id]),
                "kwargs": "{}",
                "enabled": True,
                "description": "Train a candidate lead model, then rescore open leads with the champion.",
            },
        )
    return periodic


def scoring_sweep_schedule_ensure() -> PeriodicTask:
    """Beat entry `ml-scoring-sweep` (one for the installation), every OUTBOX_SWEEP_INTERVAL_SECONDS: scoring
    requests stranded by a broker outage are queued (scoring_services.pending_scoring_sweep). Created or repaired after
    every `migrate` (ml.apps); an admin who disabled it keeps it disabled."""
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=settings.OUTBOX_SWEEP_INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
    )
    entry, created = PeriodicTask.objects.get_or_create(
        name=SCORING_SWEEP_ENTRY,
        defaults={
            "task": SCORING_SWEEP_TASK,
            "interval": schedule,
            "description": "Queue scoring requests whose debounced task was never queued or was lost",
        },
    )
    if not created and (entry.task, entry.interval_id, entry.crontab_id) != (SCORING_SWEEP_TASK, schedule.pk, None):
        entry.task, entry.interval, entry.crontab = SCORING_SWEEP_TASK, schedule, None
        entry.save(update_fields=["task", "interval", "crontab"])
    return entry


def deal_schedules_ensure(*, organization_id: int) -> PeriodicTask:
    """The organisation's nightly deal run (train, score open deals, forecast) an hour after the lead retraining,
    so the night's syncs have landed. Idempotent, like `ml_schedules_ensure`."""
    organization = Organization.objects.get(pk=organization_id)
    with transaction.atomic():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour=str((settings.ML_RETRAIN_CRON_HOUR + 1) % 24),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=ZoneInfo(settings.CELERY_TIMEZONE),
        )
        periodic, _ = PeriodicTask.objects.update_or_create(
            name=f"ml nightly deals: {organization.slug}",
            defaults={
                "task": DEALS_NIGHTLY_TASK,
                "crontab": crontab,
                "interval": None,
                "args": json.dumps([organization.id]),
                "kwargs": "{}",
                "enabled": True,
                "description": "Train the deal win model, rescore open deals, store a bookings forecast.",
            },
        )
    return periodic
