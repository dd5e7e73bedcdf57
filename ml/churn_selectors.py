"""Read-side churn queries: each customer account's current churn prediction (task "churn", company set,
no contact), for the company API and the manager pages."""

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from ml.models import Prediction, Task
from salesai.core.models import Company


def _current_churn_predictions() -> QuerySet[Prediction]:
    # Served by the partial unique index ml 0006 (one current row per company and task, contact null).
    return Prediction.objects.filter(task=Task.CHURN, contact__isnull=True, is_current=True)


def companies_with_churn_risk(*, queryset: QuerySet[Company]) -> QuerySet[Company]:
    """Annotate each company with its current churn prediction: `churn_risk` (calibrated probability),
    `churn_score` (0-100) and `churn_prediction_id`; None when the account has not been scored."""
    current = _current_churn_predictions().filter(company=OuterRef("pk"))
    return queryset.annotate(
        churn_prediction_id=Subquery(current.values("id")[:1]),
        churn_risk=Subquery(current.values("probability")[:1]),
        churn_score=Subquery(current.values("score")[:1]),
    )


def companies_with_churn_prediction(*, queryset: QuerySet[Company]) -> QuerySet[Company]:
    """Like `companies_with_churn_risk`, plus the full current churn prediction (model version, top
    factors) prefetched as `current_churn_predictions` (a list of zero or one) for detail views."""
    current = _current_churn_predictions().select_related("model_version")
    return companies_with_churn_risk(queryset=queryset).prefetch_related(
        Prefetch("predictions", queryset=current, to_attr="current_churn_predictions")
    )


def churn_predictions_current_list(*, organization_ids: list[int], limit: int) -> QuerySet[Prediction]:
    """The highest current churn risks of live accounts in these organisations, riskiest first."""
    return (
        _current_churn_predictions()
        .filter(organization_id__in=organization_ids, company__isnull=False, company__deleted_at__isnull=True)
        .select_related("company")
        .order_by("-probability", "id")[:limit]
    )
