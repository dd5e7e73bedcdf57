"""Manager pages: the lead list with reasons, sync health, the champion model, and a contact page where
reps judge a score and ask for an email draft (the email pages are in email_views). Every read goes through
selectors scoped to the user's organisations."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from ml.feedback_services import feedback_create
from ml.models import ModelVersion
from ml.selectors import (
    feedback_for_contact_list,
    leads_top_open_list,
    model_version_champion_get,
    model_version_latest_get,
    prediction_current_get,
    prediction_history_list,
    prediction_list_for_user,
    scoring_run_latest_get,
)
from salesai.core.models import Contact, Organization
from salesai.core.selectors import (
    contact_activities_recent,
    contact_list_for_user,
    organization_for_user_get,
    organizations_for_user,
)
from salesai.dashboard.forecast_selectors import forecast_headline_get
from salesai.dashboard.forms import EmailDraftForm, FeedbackForm
from salesai.dashboard.selectors import (
    churn_risk_accounts_for_user,
    deal_choices_for_contact,
    generated_email_recent_for_contact,
    sync_run_recent_list,
)

LEADS_SHOWN = 25
REASONS_PER_LEAD = 3
# Held-out metrics shown for the champion, in this order; missing ones read "—".
CHAMPION_METRICS = (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("brier", "Brier"), ("ece", "ECE"))


@dataclass(frozen=True)
class Metric:
    label: str
    value: float | None


def _champion_metrics(model_version: ModelVersion | None) -> list[Metric]:
    if model_version is None:
        return []
    metrics = model_version.metrics or {}
    return [Metric(label=label, value=metrics.get(key)) for key, label in CHAMPION_METRICS]


# Every training run fits these families on one split (ml.training_recipe); the gate picks the one that serves.
FAMILY_LABELS = (("transformer", "Transformer"), ("lightgbm", "LightGBM (tuned)"), ("logistic", "Logistic regression"))


@dataclass(frozen=True)
class ModelComparison:
    label: str
    roc_auc: float | None
    brier: float | None
    serves: bool = False


def _champion_comparison(model_version: ModelVersion | None) -> list[ModelComparison]:
    """Every family of the version's training run on the same held-out rows; empty for versions trained without
    baselines."""
    metrics = (model_version.metrics or {}) if model_version is not None else {}
    baselines = metrics.get("baselines")
    if not isinstance(baselines, dict) or not baselines:
        return []
    served = metrics.get("family", "transformer")
    families = {"transformer": metrics.get("transformer") or metrics, **baselines}
    return [
        ModelComparison(
            label=label,
            roc_auc=(families.get(key) or {}).get("roc_auc"),
            brier=(families.get(key) or {}).get("brier"),
            serves=key == served,
        )
        for key, label in FAMILY_LABELS
        if key in families
    ]


def _gate_summary(model_version: ModelVersion | None) -> dict:
    """Why this family serves and how it compared, in the gate's own words (ml.engine.gate)."""
    gate = ((model_version.metrics or {}).get("gate") or {}) if model_version is not None else {}
    return {"family": gate.get("family"), "reasons": gate.get("reasons") or [], "promoted": gate.get("promote")}


DRIFT_FEATURES_SHOWN = 5


def _drift_context(*, organization_id: int) -> dict:
    """The latest scoring run's drift: its score PSI and the input fields that moved most."""
    run = scoring_run_latest_get(organization_id=organization_id)
    if run is None:
        return {"scoring_run": None, "drift_features": []}
    features = sorted((run.feature_psi or {}).values(), key=lambda item: -(item.get("psi") or 0.0))
    return {"scoring_run": run, "drift_features": features[:DRIFT_FEATURES_SHOWN]}


def _selected_organization(request: HttpRequest, organizations: list[Organization]) -> Organization | None:
    reference = request.GET.get("org")
    if not reference:
        return organizations[0] if organizations else None
    organization = organization_for_user_get(user=request.user, reference=reference)
    if organization is None:
        raise Http404("No such organisation.")
    return organization


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    organizations = list(organizations_for_user(user=request.user))
    organization = _selected_organization(request, organizations)
    context: dict = {"organizations": organizations, "organization": organization}
    if organization is not None:
        champion = model_version_champion_get(organization_id=organization.id)
        context.update(
            leads=leads_top_open_list(organization_id=organization.id, limit=LEADS_SHOWN),
            reasons_per_lead=REASONS_PER_LEAD,
            sync_runs=sync_run_recent_list(organization_id=organization.id),
            champion=champion,
            champion_metrics=_champion_metrics(champion),
            champion_comparison=_champion_comparison(champion),
            champion_gate=_gate_summary(champion),
            candidate=None if champion else model_version_latest_get(organization_id=organization.id),
            **_drift_context(organization_id=organization.id),
            churn_accounts=churn_risk_accounts_for_user(user=request.user, organization_id=organization.id),
            forecast_headline=forecast_headline_get(organization_id=organization.id),
        )
    return render(request, "dashboard/home.html", context)


def _contact_for_user(request: HttpRequest, contact_id: int) -> Contact:
    contact = contact_list_for_user(user=request.user).filter(id=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


def _render_contact(
    request: HttpRequest,
    contact: Contact,
    form: FeedbackForm | None,
    status: int = 200,
    email_form: EmailDraftForm | None = None,
) -> HttpResponse:
    prediction = prediction_current_get(contact_id=contact.id)
    if form is None and prediction is not None:
        form = FeedbackForm(initial={"prediction_id": prediction.id})
    if email_form is None:
        email_form = EmailDraftForm(deals=deal_choices_for_contact(contact=contact))
    context = {
        "organization": contact.organization,
        "organizations": list(organizations_for_user(user=request.user)),
        "contact": contact,
        "prediction": prediction,
        "history": prediction_history_list(contact_id=contact.id),
        "activities": contact_activities_recent(contact_id=contact.id),
        "feedback_list": feedback_for_contact_list(contact_id=contact.id),
        "form": form,
        "email_form": email_form,
        "emails": generated_email_recent_for_contact(contact_id=contact.id),
    }
    return render(request, "dashboard/contact_detail.html", context, status=status)


@login_required
@require_GET
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    return _render_contact(request, _contact_for_user(request, contact_id), form=None)


@login_required
@require_POST
def contact_feedback(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _contact_for_user(request, contact_id)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        # The prediction the rep saw, which must be this contact's (and so in one of the user's orgs).
        prediction = (
            prediction_list_for_user(user=request.user)
            .filter(id=form.cleaned_data["prediction_id"], contact_id=contact.id)
            .first()
        )
        if prediction is None:
            form.add_error(None, "That score no longer exists; reload the page and try again.")
        else:
            try:
                feedback_create(
                    prediction_id=prediction.id,
                    user_id=request.user.id,
                    verdict=form.cleaned_data["verdict"],
                    override_value=form.override_value,
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, "Thanks — your feedback was recorded.")
                return redirect("dashboard:contact-detail", contact_id=contact.id)
    return _render_contact(request, contact, form=form, status=400)


def _add_service_errors(form: FeedbackForm, exc: ValidationError) -> None:
    field_map = {"override_value": "override_score"}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = field_map.get(field, field)
            for error in errors:
                form.add_error(target if target in form.fields else None, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)
