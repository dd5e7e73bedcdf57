"""Nightly retraining + rescoring per organisation, as django-celery-beat rows (the DatabaseScheduler reads
them, so schedules live in the database and can be edited in the admin)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from salesai.core.models import Organization

NIGHTLY_TASK = "ml.tasks.retrain_and_score"


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
