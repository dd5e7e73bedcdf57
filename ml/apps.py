from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Models and predictions"

    def ready(self) -> None:
        post_migrate.connect(_scoring_sweep_schedule_ensure, sender=self, dispatch_uid="ml.scoring_sweep")


def _scoring_sweep_schedule_ensure(*, using: str = "default", **_: Any) -> None:
    """After `migrate`: the beat entry of the scoring sweep exists (once django-celery-beat's tables do)."""
    from django.db import connections
    from django_celery_beat.models import PeriodicTask

    from ml.beat import scoring_sweep_schedule_ensure

    # A partial `migrate` (one app, on a fresh database) may not have created the beat tables yet.
    if using == "default" and PeriodicTask._meta.db_table in connections[using].introspection.table_names():
        scoring_sweep_schedule_ensure()
