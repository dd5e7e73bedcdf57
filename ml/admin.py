"""Admin for models, training runs, predictions and feedback; adds the current score to the contact list.

Contacts are registered by `salesai.core`, which must not import `ml`; this module re-registers them with
a score column (the core app comes first in INSTALLED_APPS, so its registration exists by now).
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from ml.model_versions import model_version_promote, model_version_rollback
from ml.models import Feedback, ModelVersion, Prediction, ScoringRun, TrainingRun
from ml.selectors import contacts_with_current_score
from salesai.core.admin import ORGANIZATION_FILTER, ContactAdmin, OrganizationScopedAdmin
from salesai.core.models import Contact
from salesai.core.selectors import membership_can_manage


class ContactWithScoreAdmin(ContactAdmin):
    list_display = (
        "__str__",
        "current_score",
        "email",
        "company",
        "lead_source",
        "lifecycle_stage",
        "owner_email",
        "organization",
        "converted_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return contacts_with_current_score(queryset=super().get_queryset(request))

    @admin.display(description="Score", ordering="current_score", empty_value="—")
    def current_score(self, contact: Contact) -> int | None:
        return contact.current_score


if admin.site.is_registered(Contact):
    admin.site.unregister(Contact)
admin.site.register(Contact, ContactWithScoreAdmin)


@admin.register(TrainingRun)
class TrainingRunAdmin(OrganizationScopedAdmin):
    list_display = ("id", "organization", "task", "status", "queued_at", "started_at", "finished_at")
    list_filter = ("task", "status", ORGANIZATION_FILTER)
    search_fields = ("error",)
    list_select_related = ("organization",)
    readonly_fields = ("log", "error", "queued_at", "started_at", "finished_at")
    date_hierarchy = "queued_at"


@admin.register(ModelVersion)
class ModelVersionAdmin(OrganizationScopedAdmin):
    list_display = (
        "__str__",
        "organization",
        "architecture",
        "roc_auc",
        "pr_auc",
        "brier",
        "trained_rows",
        "created_at",
        "promoted_at",
        "gate_reasons",
    )
    list_filter = ("task", "status", ORGANIZATION_FILTER, "architecture")
    search_fields = ("architecture", "artifact_sha256")
    list_select_related = ("organization",)
    raw_id_fields = ("training_run",)
    # Status changes go through the promote action, which keeps one champion per task and records when.
    readonly_fields = (
        "status",
        "gate_reasons",
        "metrics",
        "feature_schema",
        "artifact_path",
        "artifact_sha256",
        "trained_rows",
        "created_at",
        "promoted_at",
    )
    actions = ["promote_to_champion", "roll_back_to_previous_champion"]

    def _metric(self, model_version: ModelVersion, key: str) -> str:
        value = (model_version.metrics or {}).get(key)
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="ROC-AUC")
    def roc_auc(self, model_version: ModelVersion) -> str:
        return self._metric(model_version, "roc_auc")

    @admin.display(description="PR-AUC")
    def pr_auc(self, model_version: ModelVersion) -> str:
        return self._metric(model_version, "pr_auc")

    @admin.display(description="Brier")
    def brier(self, model_version: ModelVersion) -> str:
        return self._metric(model_version, "brier")

    @admin.display(description="Why this family (gate)")
    def gate_reasons(self, model_version: ModelVersion) -> str:
        """The gate's decision in its own words: the family that serves, its paired intervals, the champion."""
        gate = (model_version.metrics or {}).get("gate") or {}
        if not gate:
            return "—"
        verdict = "promoted" if gate.get("promote") else "kept as candidate"
        return f"{gate.get('family', model_version.architecture)} ({verdict}): " + "; ".join(gate.get("reasons", []))

    @admin.action(description="Promote to champion")
    def promote_to_champion(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one model version to promote.", messages.ERROR)
            return
        model_version = selected[0]
        if not (
            request.user.is_superuser
            or membership_can_manage(user=request.user, organization_id=model_version.organization_id)
        ):
            self.message_user(
                request, "Only admins and managers of its organisation can promote a model.", messages.ERROR
            )
            return
        try:
            model_version_promote(model_version_id=model_version.id, actor_id=request.user.id)
        except ValidationError as exc:
            self.message_user(request, f"Not promoted: {' '.join(exc.messages)}", messages.ERROR)
            return
        self.message_user(request, f"{model_version} is now the champion.", messages.SUCCESS)

    @admin.action(description="Roll back to previous champion")
    def roll_back_to_previous_champion(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        """Select any version of an organisation's task: its previous champion is restored (once per
        organisation and task, however many of its versions are selected)."""
        targets = sorted(set(queryset.values_list("organization_id", "task")))
        for organization_id, task in targets:
            if not (
                request.user.is_superuser or membership_can_manage(user=request.user, organization_id=organization_id)
            ):
                self.message_user(
                    request, "Only admins and managers of its organisation can roll back a model.", messages.ERROR
                )
                continue
            try:
                restored = model_version_rollback(organization_id=organization_id, task=task, actor_id=request.user.id)
            except ValidationError as exc:
                self.message_user(request, f"Not rolled back: {' '.join(exc.messages)}", messages.ERROR)
                continue
            self.message_user(
                request, f"Rolled back: {restored} of {restored.organization} is the champion again.", messages.SUCCESS
            )


@admin.register(Prediction)
class PredictionAdmin(OrganizationScopedAdmin):
    list_display = (
        "id",
        "contact",
        "company",
        "task",
        "score",
        "probability",
        "is_current",
        "model_version",
        "created_at",
    )
    list_filter = ("task", "is_current", ORGANIZATION_FILTER)
    search_fields = ("contact__email", "contact__last_name", "company__name")
    raw_id_fields = ("contact", "company", "model_version")
    list_select_related = ("contact", "company", "model_version")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # predictions come from scoring runs only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Feedback)
class FeedbackAdmin(OrganizationScopedAdmin):
    list_display = ("id", "prediction", "verdict", "override_value", "user", "organization", "created_at")
    list_filter = ("verdict", ORGANIZATION_FILTER)
    search_fields = ("reason", "user__username", "prediction__contact__email")
    raw_id_fields = ("prediction", "user")
    list_select_related = ("prediction", "user", "organization")
    date_hierarchy = "created_at"


# --- scoring runs and drift (appended) ------------------------------------------------------------------------


@admin.register(ScoringRun)
class ScoringRunAdmin(OrganizationScopedAdmin):
    """Read-only: every scoring run stores itself, with the PSI of its scores and of the model's fields."""

    list_display = (
        "id",
        "organization",
        "model_version",
        "trigger",
        "scored",
        "overrides_kept",
        "score_psi",
        "drift",
        "started_at",
        "finished_at",
    )
    list_filter = ("drift", "trigger", "task", ORGANIZATION_FILTER)
    list_select_related = ("organization", "model_version")
    raw_id_fields = ("model_version",)
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The email drafts admin lives in its own module; importing it registers it.
from ml import email_admin  # noqa: E402, F401
