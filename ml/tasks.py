"""gpu-queue tasks (the queue comes from settings.CELERY_TASK_ROUTES, never from here). Thin and idempotent:
they take ids, call one service and return a small JSON summary."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from ml import churn_services, scoring_services, training_services
from ml.models import Task
from salesai.core.db_retry import db_call_retried


@shared_task
def train_model(training_run_id: int) -> dict[str, Any]:
    """Execute a queued TrainingRun; a finished run is not re-run."""
    model_version = training_services.training_run_execute(training_run_id=training_run_id)
    if model_version is None:
        return {"training_run_id": training_run_id, "model_version_id": None}
    return {
        "training_run_id": training_run_id,
        "model_version_id": model_version.id,
        "version": model_version.version,
        "status": model_version.status,
        "roc_auc": model_version.metrics.get("roc_auc"),
    }


@shared_task
def score_contacts(organization_id: int, contact_ids: list[int] | None = None, pending: bool = False) -> dict[str, Any]:
    """(Re)score contacts with the champion. Running it twice only adds a history row per contact.
    Without a champion there is nothing to score yet: a no-op, not an error (syncs enqueue this early).
    `pending=True` is the debounced run queued by scoring_services.scoring_enqueue: it scores (and consumes)
    whatever requests are waiting for the organisation instead of `contact_ids`."""
    try:
        if pending:
            result = scoring_services.pending_scoring_run(organization_id=organization_id)  # retries its own scoring
            if result is None:
                return {"organization_id": organization_id, "scored": 0, "skipped": "nothing pending"}
        else:
            result = db_call_retried(
                lambda: scoring_services.contacts_score(organization_id=organization_id, contact_ids=contact_ids),
                attempts=settings.ML_SCORING_DB_ATTEMPTS,
                what="lead scoring",
            )
    except scoring_services.NoChampionModel:
        return {"organization_id": organization_id, "scored": 0, "skipped": "no champion model"}
    return {
        "organization_id": organization_id,
        "model_version_id": result.model_version_id,
        "scored": result.scored,
        "seconds": result.seconds,
    }


@shared_task
def retrain_and_score(organization_id: int) -> dict[str, Any]:
    """The nightly schedule (see ml.beat): train a new version, then rescore every open lead with the
    champion. A version trained here stays a candidate unless it is the organisation's first."""
    run = training_services.training_run_create(organization_id=organization_id)
    trained = train_model(run.pk)
    scored = score_contacts(organization_id)
    summary = {"training": trained, "scoring": scored}
    if churn_services.organization_has_churn_labels(organization_id=organization_id):  # accounts churn too
        churn_run = training_services.training_run_create(organization_id=organization_id, task=Task.CHURN)
        summary["churn_training"] = train_model(churn_run.pk)
        summary["churn_scoring"] = score_accounts(organization_id)
    return summary


@shared_task
def score_accounts(organization_id: int, company_ids: list[int] | None = None) -> dict[str, Any]:
    """(Re)score customer accounts' churn risk with the churn champion; without one, a no-op."""
    try:
        prediction_ids = db_call_retried(
            lambda: churn_services.accounts_score(organization_id=organization_id, company_ids=company_ids),
            attempts=settings.ML_SCORING_DB_ATTEMPTS,
            what="churn scoring",
        )
    except churn_services.NoChurnModel:
        return {"organization_id": organization_id, "scored": 0, "skipped": "no churn model"}
    return {"organization_id": organization_id, "scored": len(prediction_ids)}


@shared_task
def generate_email(email_id: int) -> dict[str, Any]:
    """Draft a queued sales email (ml.email_services). A finished draft is left as it is, so a redelivered
    task changes nothing; a draft deleted meanwhile is skipped."""
    from ml.email_services import email_draft_generate  # keeps the emailgen imports out of the other tasks
    from ml.models import GeneratedEmail

    try:
        email = email_draft_generate(email_id=email_id)
    except GeneratedEmail.DoesNotExist:
        return {"email_id": email_id, "status": None, "skipped": "no such email"}
    return {
        "email_id": email.id,
        "status": email.status,
        "backend": email.backend,
        "fallback_used": email.fallback_used,
        "latency_seconds": email.latency_seconds,
    }


@shared_task
def sweep_pending_scoring() -> dict[str, Any]:
    """Beat, every OUTBOX_SWEEP_INTERVAL_SECONDS: queue the debounced scoring of organisations whose requests
    wait without a task (scoring_services.pending_scoring_sweep). Routed to the default queue in settings: it must not
    wait behind a training run on the gpu queue."""
    return {"queued": scoring_services.pending_scoring_sweep()}


@shared_task
def deals_nightly(organization_id: int) -> dict[str, Any]:
    """Beat, nightly (ml.beat.deal_schedules_ensure): train the deal model, rescore open deals, forecast. A
    second run the same day trains and scores again (history rows) but reuses the day's forecast."""
    from ml import deal_services  # keeps the deal engine's imports out of the other tasks

    return deal_services.deals_nightly_run(organization_id=organization_id)


@shared_task
def score_deals(organization_id: int) -> dict[str, Any]:
    """Rescore the organisation's open deals with the deal champion; without one, a no-op."""
    from ml import deal_services

    return {"organization_id": organization_id, "scored": deal_services.deals_score(organization_id=organization_id)}
