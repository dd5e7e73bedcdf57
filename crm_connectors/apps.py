from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConnectorsConfig(AppConfig):
    name = "crm_connectors"
    verbose_name = "CRM connectors"

    def ready(self) -> None:
        # Importing the connector packages runs their @register decorators.
        from crm_connectors import registry
        from crm_connectors.rescoring import rescore_changed_contacts, write_back_new_scores
        from crm_connectors.signals import records_changed
        from ml.signals import predictions_updated

        registry.load_builtin_connectors()
        post_migrate.connect(_outbox_sweep_schedule_ensure, sender=self, dispatch_uid="crm_connectors.outbox_sweep")
        records_changed.connect(rescore_changed_contacts, dispatch_uid="crm_connectors.rescore_changed_contacts")
        predictions_updated.connect(write_back_new_scores, dispatch_uid="crm_connectors.write_back_new_scores")


def _outbox_sweep_schedule_ensure(*, using: str = "default", **_: Any) -> None:
    """After `migrate`: the one beat entry of the outbox sweep exists (once django-celery-beat's tables do)."""
    from django.db import connections
    from django_celery_beat.models import PeriodicTask

    from crm_connectors.schedules import outbox_sweep_schedule_ensure

    # A partial `migrate` (one app, on a fresh database) may not have created the beat tables yet.
    if using == "default" and PeriodicTask._meta.db_table in connections[using].introspection.table_names():
        outbox_sweep_schedule_ensure()
