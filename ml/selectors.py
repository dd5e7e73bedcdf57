"""Read-side queries for predictions, feedback and models."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, FilteredRelation, Max, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce

from ml.engine.feedback_labels import FeedbackLabel
from ml.models import Feedback, ModelVersion, Prediction, ScoringRun, Task
from salesai.core.models import Activity, Contact, Deal
from salesai.core.selectors import records_for_user

User = AbstractBaseUser | AnonymousUser
_IN_CHUNK = 900  # ids per SQL IN (...) list, under SQLite's variable limit


def contacts_with_current_score(*, queryset: QuerySet[Contact], task: str = Task.LEAD_CONVERSION) -> QuerySet[Contact]:
    """Annotate each contact with its current prediction (id, probability, score); None when unscored.

    One LEFT JOIN (a contact has at most one current prediction per task: a unique constraint), not three
    correlated subqueries: ordering a list by the score then costs one hash join, not 3 probes per contact."""
    current = FilteredRelation("predictions", condition=Q(predictions__task=task, predictions__is_current=True))
    return queryset.annotate(current_prediction=current).annotate(
        current_prediction_id=F("current_prediction__id"),
        current_probability=F("current_prediction__probability"),
        current_score=F("current_prediction__score"),
    )


def contacts_with_current_prediction(
    *, queryset: QuerySet[Contact], task: str = Task.LEAD_CONVERSION
) -> QuerySet[Contact]:
    """Like `contacts_with_current_score`, plus the full current prediction (model version, top factors)
    prefetched as `current_predictions` (a list of zero or one) for detail views."""
    current = Prediction.objects.filter(task=task, is_current=True).select_related("model_version")
    return contacts_with_current_score(queryset=queryset, task=task).prefetch_related(
        Prefetch("predictions", queryset=current, to_attr="current_predictions")
    )


def prediction_current_get(*, contact_id: int, task: str = Task.LEAD_CONVERSION) -> Prediction | None:
    return (
        Prediction.objects.select_related("model_version")
        .filter(contact_id=contact_id, task=task, is_current=True)
        .first()
    )


def prediction_history_list(*, contact_id: int, limit: int = 20) -> QuerySet[Prediction]:
    """Newest first, every task: the current prediction and the ones it replaced."""
    return (
        Prediction.objects.select_related("model_version")
        .filter(contact_id=contact_id)
        .order_by("-created_at", "-id")[:limit]
    )


def prediction_list_for_user(*, user: User) -> QuerySet[Prediction]:
    return records_for_user(user=user, model=Prediction).select_related("model_version", "organization")


def feedback_list_for_user(*, user: User) -> QuerySet[Feedback]:
    return records_for_user(user=user, model=Feedback).select_related("prediction", "organization", "user")


def model_version_list_for_user(*, user: User) -> QuerySet[ModelVersion]:
    return records_for_user(user=user, model=ModelVersion).select_related("organization")


def model_version_champion_get(*, organization_id: int, task: str = Task.LEAD_CONVERSION) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        organization_id=organization_id, task=task, status=ModelVersion.Status.CHAMPION
    ).first()


def model_version_latest_get(*, organization_id: int, task: str = Task.LEAD_CONVERSION) -> ModelVersion | None:
    """The organisation's newest version of a task, whatever its status (a candidate the gate kept, say)."""
    return ModelVersion.objects.filter(organization_id=organization_id, task=task).order_by("-version").first()


def leads_top_open_list(
    *, organization_id: int, task: str = Task.LEAD_CONVERSION, limit: int = 25
) -> QuerySet[Prediction]:
    """Current predictions of the organisation's open leads (not converted, not deleted), best first.
    Starts from predictions so it walks the (organization, task, is_current, score) index."""
    return (
        Prediction.objects.filter(
            organization_id=organization_id,
            task=task,
            is_current=True,
            contact__isnull=False,
            contact__converted_at__isnull=True,
            contact__deleted_at__isnull=True,
        )
        .select_related("contact", "contact__company")
        .order_by("-score", "-probability", "id")[:limit]
    )


def feedback_for_contact_list(*, contact_id: int, limit: int = 10) -> QuerySet[Feedback]:
    return (
        Feedback.objects.select_related("user", "prediction")
        .filter(prediction__contact_id=contact_id)
        .order_by("-created_at", "-id")[:limit]
    )


def predictions_current_for_connection(*, connection_id: int, task: str = Task.LEAD_CONVERSION) -> QuerySet[Prediction]:
    """Current predictions of the live contacts synced through one CRM connection (for writing scores back)."""
    return (
        Prediction.objects.filter(
            task=task,
            is_current=True,
            contact__connection_id=connection_id,
            contact__deleted_at__isnull=True,
        )
        .select_related("contact")
        .order_by("contact_id")
    )


# --- feedback as training labels, sticky overrides, pooled fallback, scoring runs ----------------------------
def feedback_training_labels_list(*, organization_id: int, task: str = Task.LEAD_CONVERSION) -> list[FeedbackLabel]:
    """Every verdict on the organisation's contact predictions, with what the model itself had said (the
    model's own probability, also when the prediction was serving an override)."""
    rows = (
        Feedback.objects.filter(
            organization_id=organization_id, prediction__task=task, prediction__contact_id__isnull=False
        )
        .annotate(said=Coalesce("prediction__model_probability", "prediction__probability"))
        .values_list("prediction__contact_id", "created_at", "verdict", "said", "override_value")
    )
    return [
        FeedbackLabel(
            contact_id=contact_id,
            given_at=given_at,
            verdict=verdict,
            model_probability=said,
            override_value=override_value,
        )
        for contact_id, given_at, verdict, said, override_value in rows.iterator(chunk_size=2000)
    ]


def contacts_converted_at_map(*, organization_id: int) -> dict[int, datetime]:
    return dict(
        Contact.objects.filter(organization_id=organization_id, converted_at__isnull=False).values_list(
            "id", "converted_at"
        )
    )


def organization_conversions_count(*, organization_id: int) -> int:
    return Contact.objects.filter(
        organization_id=organization_id, deleted_at__isnull=True, converted_at__isnull=False
    ).count()


def overrides_standing_get(*, contact_ids: list[int], task: str = Task.LEAD_CONVERSION) -> dict[int, Feedback]:
    """Contact id -> its newest override, for contacts where that override still stands: nothing newer
    arrived since (an activity, a deal created or changed in the CRM)."""
    newest: dict[int, Feedback] = {}
    for start in range(0, len(contact_ids), _IN_CHUNK):
        overrides = (
            Feedback.objects.filter(
                verdict=Feedback.Verdict.OVERRIDE,
                prediction__task=task,
                prediction__contact_id__in=contact_ids[start : start + _IN_CHUNK],
            )
            .select_related("prediction", "user")
            .order_by("prediction__contact_id", "-created_at", "-id")
        )
        for override in overrides:
            newest.setdefault(override.prediction.contact_id, override)
    if not newest:
        return {}
    evidence = _evidence_latest(contact_ids=list(newest))
    return {
        contact_id: override
        for contact_id, override in newest.items()
        if evidence.get(contact_id) is None or evidence[contact_id] <= override.created_at
    }


def _evidence_latest(*, contact_ids: list[int]) -> dict[int, datetime]:
    """Contact id -> the newest moment something new was learned about it."""
    latest: dict[int, datetime] = {}

    def keep(contact_id: int, moment: datetime | None) -> None:
        if moment is not None and (contact_id not in latest or moment > latest[contact_id]):
            latest[contact_id] = moment

    for start in range(0, len(contact_ids), _IN_CHUNK):
        ids = contact_ids[start : start + _IN_CHUNK]
        # Not the contact's own CRM modification time: our score writeback bumps it, and CRM automation
        # touches it for trivia; an override must not end because we wrote a score back.
        activities = (
            Activity.objects.filter(contact_id__in=ids, deleted_at__isnull=True)
            .values("contact_id")
            .annotate(last=Max("occurred_at"))
            .values_list("contact_id", "last")
        )
        for contact_id, moment in activities:
            keep(contact_id, moment)
        deals = (
            Deal.objects.filter(contact_id__in=ids)
            .values("contact_id")
            .annotate(changed=Max(Coalesce("remote_updated_at", "created_at")), created=Max("created_at"))
            .values_list("contact_id", "changed", "created")
        )
        for contact_id, changed, created in deals:
            keep(contact_id, changed)
            keep(contact_id, created)
    return latest


def model_version_pooled_champion_get(*, task: str = Task.LEAD_CONVERSION) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        organization__isnull=True, task=task, status=ModelVersion.Status.CHAMPION
    ).first()


def scoring_run_list_for_user(*, user: User) -> QuerySet[ScoringRun]:
    return records_for_user(user=user, model=ScoringRun).select_related("organization", "model_version")


def scoring_run_latest_get(*, organization_id: int, task: str = Task.LEAD_CONVERSION) -> ScoringRun | None:
    return (
        ScoringRun.objects.select_related("model_version")
        .filter(organization_id=organization_id, task=task)
        .order_by("-started_at", "-id")
        .first()
    )


def predictions_current_churn_for_connection(*, connection_id: int) -> QuerySet[Prediction]:
    """Current churn predictions of the live companies synced through one CRM connection (for writing churn
    risk back)."""
    return (
        Prediction.objects.filter(
            task=Task.CHURN,
            is_current=True,
            contact__isnull=True,
            company__connection_id=connection_id,
            company__deleted_at__isnull=True,
        )
        .select_related("company")
        .order_by("company_id")
    )
