"""Read-side queries for predictions, feedback and models."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from ml.models import Feedback, ModelVersion, Prediction, Task
from salesai.core.models import Contact
from salesai.core.selectors import records_for_user

User = AbstractBaseUser | AnonymousUser


def _current_predictions(*, task: str) -> QuerySet[Prediction]:
    return Prediction.objects.filter(contact=OuterRef("pk"), task=task, is_current=True)


def contacts_with_current_score(
    *, queryset: QuerySet[Contact], task: str = Task.LEAD_CONVERSION
) -> QuerySet[Contact]:
    """Annotate each contact with its current prediction (id, probability, score); None when unscored."""
    current = _current_predictions(task=task)
    return queryset.annotate(
        current_prediction_id=Subquery(current.values("id")[:1]),
        current_probability=Subquery(current.values("probability")[:1]),
        current_score=Subquery(current.values("score")[:1]),
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


def predictions_current_for_connection(
    *, connection_id: int, task: str = Task.LEAD_CONVERSION
) -> QuerySet[Prediction]:
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
