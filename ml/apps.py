from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Models and predictions"

    def ready(self) -> None:
        post_migrate.connect(_scoring_sweep_schedule_ensure, sender=self, dispatch_uid="ml.scoring_sweep")


def _scoring_sweep_schedule_ensure(*, using: str = "default", **_: Any) -> None:
    """After `migrate`: the beat entry of the scoring sweep exists (django-celery-beat's tables do by then)."""
    from ml.beat import scoring_sweep_schedule_ensure

    if using == "default":
        scoring_sweep_schedule_ensure()
