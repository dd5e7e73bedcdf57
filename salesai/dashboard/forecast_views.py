"""The forecast page (`/app/forecast/`) and the deal page (`/app/deals/<id>/`): reads only, through the
forecast and deal selectors, scoped to the user's organisations (a foreign deal is a 404)."""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ml.models import ForecastRow, ForecastSnapshot
from salesai.core.models import Deal, DealHistory, Organization
from salesai.core.selectors import deal_list_for_user, organization_for_user_get, organizations_for_user
from salesai.dashboard.deal_reasons import deal_reasons
from salesai.dashboard.deal_selectors import (
    deal_activities_recent,
    deal_current_win_prediction,
    deal_history_list,
    deal_is_slipping,
    deal_owner_team_get,
    deal_win_by_month,
    deal_win_prediction_history,
    deals_slipping_count,
    deals_slipping_list,
    deals_with_win_probability,
)
from salesai.dashboard.fan_chart import FanChart, fan_chart_build, scale_max
from salesai.dashboard.forecast_selectors import (
    MonthForecast,
    deals_moving_forecast,
    forecast_accuracy_get,
    forecast_latest_get,
    forecast_months,
    forecast_moves_list,
    forecast_scope_rows,
)

Scope = ForecastRow.Scope
Method = ForecastSnapshot.Method


@dataclass(frozen=True)
class MonthPanel:
    forecast: MonthForecast
    chart: FanChart


def _organization(request: HttpRequest, organizations: list[Organization]) -> Organization | None:
    reference = request.GET.get("org")
    if not reference:
        return organizations[0] if organizations else None
    organization = organization_for_user_get(user=request.user, reference=reference)
    if organization is None:
        raise Http404("No such organisation.")
    return organization


def _month_panels(months: list[MonthForecast]) -> list[MonthPanel]:
    axis_max = scale_max(
        [value for m in months for value in (m.expected, m.p90, m.actual, *(b.expected for b in m.baselines))]
    )
    return [
        MonthPanel(
            forecast=month,
            chart=fan_chart_build(
                baseline=next((b.expected for b in month.baselines if b.method == Method.STAGE_WEIGHTED), None),
                expected=month.expected,
                p10=month.p10,
                p50=month.p50,
                p90=month.p90,
                actual=month.actual,
                axis_max=axis_max,
            ),
        )
        for month in months
    ]


@login_required
@require_GET
def forecast(request: HttpRequest) -> HttpResponse:
    organizations = list(organizations_for_user(user=request.user))
    organization = _organization(request, organizations)
    context: dict = {
        "organizations": organizations,
        "organization": organization,
        "snapshot": None,
        "today": timezone.localdate(),
    }
    if organization is not None:
        snapshot = forecast_latest_get(organization_id=organization.id)
        context["accuracy"] = forecast_accuracy_get(organization_id=organization.id)
        context["slipping"] = deals_slipping_list(organization_id=organization.id)
        context["slipping_count"] = deals_slipping_count(organization_id=organization.id)
        if snapshot is not None:
            months = forecast_months(snapshot=snapshot)
            context.update(
                snapshot=snapshot,
                months=_month_panels(months),
                month_dates=[m.month for m in months],
                any_actual=any(m.actual is not None for m in months),
                any_baseline=any(m.baselines for m in months),
                movers=deals_moving_forecast(organization_id=organization.id, months=months),
                moves=forecast_moves_list(snapshot=snapshot),
                owner_rows=forecast_scope_rows(snapshot=snapshot, scope=Scope.OWNER),
                team_rows=forecast_scope_rows(snapshot=snapshot, scope=Scope.TEAM),
                pipeline_rows=forecast_scope_rows(snapshot=snapshot, scope=Scope.PIPELINE),
            )
    return render(request, "dashboard/forecast.html", context)


@login_required
@require_GET
def deal_detail(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = deals_with_win_probability(queryset=deal_list_for_user(user=request.user).filter(id=deal_id)).first()
    if deal is None:
        raise Http404("No such deal.")
    prediction = deal_current_win_prediction(deal=deal)
    context = {
        "organization": deal.organization,
        "organizations": list(organizations_for_user(user=request.user)),
        "deal": deal,
        "team": deal_owner_team_get(deal=deal),
        "prediction": prediction,
        "win_by_month": deal_win_by_month(prediction=prediction),
        "reasons": deal_reasons(factors=prediction.top_factors if prediction else []),
        "slipping": deal_is_slipping(deal=deal),
        "history": deal_history_list(deal_id=deal.id),
        "field_labels": dict(DealHistory.Field.choices),
        "score_history": deal_win_prediction_history(deal_id=deal.id),
        "activities": deal_activities_recent(deal_id=deal.id),
        "is_open": deal.status == Deal.Status.OPEN,
        "today": timezone.localdate(),
    }
    return render(request, "dashboard/deal_detail.html", context)
