"""Scoring runs (read-only): what each run scored and how far it drifted from the model's training data."""

import django_filters
from django.db.models import QuerySet
from rest_framework import mixins

from ml.models import ScoringRun, Task
from ml.selectors import scoring_run_list_for_user
from salesai.api.filters import OrganizationFilterSet
from salesai.api.serializers.scoring_runs import ScoringRunSerializer
from salesai.api.views.base import OrganizationScopedViewSet


class ScoringRunFilter(OrganizationFilterSet):
    model_version = django_filters.NumberFilter(field_name="model_version_id", label="Model version id")
    task = django_filters.ChoiceFilter(choices=Task.choices)
    trigger = django_filters.ChoiceFilter(choices=ScoringRun.Trigger.choices)
    drift = django_filters.ChoiceFilter(choices=ScoringRun.Drift.choices)

    class Meta:
        model = ScoringRun
        fields = ["organization", "model_version", "task", "trigger", "drift"]


class ScoringRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    serializer_class = ScoringRunSerializer
    filterset_class = ScoringRunFilter
    ordering_fields = ["started_at", "score_psi", "scored"]
    ordering = ["-started_at"]

    def get_queryset(self) -> QuerySet[ScoringRun]:
        return scoring_run_list_for_user(user=self.request.user)
