"""Shapes of predictions, feedback and model versions in the API."""

from rest_framework import serializers

from ml.models import Feedback, ModelVersion, Prediction, Task
from ml.selectors import prediction_list_for_user
from salesai.api.fields import OrganizationField, UserScopedPrimaryKeyField


class FactorSerializer(serializers.Serializer):
    """One reason behind a score, e.g. {"label": "Lead source = Referral", "direction": "+"}."""

    feature = serializers.CharField(read_only=True, required=False)
    label = serializers.CharField(read_only=True, required=False)
    direction = serializers.ChoiceField(choices=["+", "-"], read_only=True, required=False)
    weight = serializers.FloatField(read_only=True, required=False)


class PredictionSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_version_number = serializers.IntegerField(source="model_version.version", read_only=True)
    top_factors = FactorSerializer(many=True, read_only=True)

    class Meta:
        model = Prediction
        fields = [
            "id",
            "organization",
            "task",
            "contact",
            "company",
            "probability",
            "score",
            "top_factors",
            "is_current",
            "model_version",
            "model_version_number",
            "source",
            "model_probability",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class FeedbackSerializer(serializers.ModelSerializer):
    """Input: prediction, verdict, override_value (0..1, overrides only), reason. The caller is the user."""

    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    prediction = UserScopedPrimaryKeyField(scoped_queryset=prediction_list_for_user)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    verdict = serializers.ChoiceField(choices=Feedback.Verdict.choices)
    override_value = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        allow_null=True,
        help_text="The rep's own probability (0..1); required when verdict is override.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)

    class Meta:
        model = Feedback
        fields = ["id", "organization", "prediction", "user", "verdict", "override_value", "reason", "created_at"]
        read_only_fields = ["id", "organization", "user", "created_at"]


class ModelVersionSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    family = serializers.SerializerMethodField(
        help_text="The model family this version serves: transformer, lightgbm or logistic."
    )
    gate = serializers.SerializerMethodField(
        help_text="The promotion gate's decision: promote, family, reasons, the paired DeLong intervals of the "
        "family choice (family_choice.comparisons) and of the champion comparison."
    )

    class Meta:
        model = ModelVersion
        # artifact_path is a server-side location, not something API clients need.
        fields = [
            "id",
            "organization",
            "task",
            "version",
            "status",
            "architecture",
            "family",
            "gate",
            "training_run",
            "metrics",
            "feature_schema",
            "artifact_sha256",
            "trained_rows",
            "created_at",
            "promoted_at",
        ]
        read_only_fields = fields

    def get_family(self, model_version: ModelVersion) -> str:
        from ml.serving import family_of

        return family_of(model_version.architecture)

    def get_gate(self, model_version: ModelVersion) -> dict | None:
        return (model_version.metrics or {}).get("gate")


class ModelVersionRollbackSerializer(serializers.Serializer):
    """Input of a rollback: which organisation's champion, for which task."""

    organization = OrganizationField(help_text="Organisation slug or id (one you are a member of).")
    task = serializers.ChoiceField(choices=Task.choices, default=Task.LEAD_CONVERSION)
