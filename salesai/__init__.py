"""The Django project: env-driven settings, the Celery app (loaded here so `@shared_task` binds to it), URLs,
log redaction. Its apps: `core` (tenancy + CRM domain), `api` (DRF), `dashboard` (manager pages), `demo`
(synthetic CRM), `privacy` (data-subject requests). Only `salesai.core` is imported by `crm_connectors` and `ml`.
"""

from salesai.celery import app as celery_app

__all__ = ("celery_app",)
