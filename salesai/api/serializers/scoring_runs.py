"""Scoring runs with their drift: the score PSI and the PSI of each of the model's input fields."""

from rest_framework import serializers

from ml.models import ScoringRun


class FeaturePsiSerializer(serializers.Serializer):
    """Drift of one input field, training reference vs the rows scored in the run."""

    psi = serializers.FloatField(read_only=True)
    band = serializers.CharField(read_only=True, help_text="stable, moderate or major (as the run's drift).")
    label = serializers.CharField(read_only=True)


class ScoringRunSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_version_number = serializers.IntegerField(source="model_version.version", read_only=True)
    pooled_model = serializers.SerializerMethodField(help_text="Scored by the pooled fallback model.")
    score_histogram = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    feature_psi = serializers.DictField(
        child=FeaturePsiSerializer(),
        read_only=True,
        help_text="PSI per input field; bands: stable < 0.1 <= moderate <= 0.25 < major.",
    )

    class Meta:
        model = ScoringRun
        fields = [
            "id",
            "organization",
            "task",
            "model_version",
            "model_version_number",
            "pooled_model",
            "trigger",
            "started_at",
            "finished_at",
            "scored",
            "overrides_kept",
            "score_histogram",
            "mean_probability",
            "score_psi",
            "drift",
            "feature_psi",
        ]
        read_only_fields = fields

    def get_pooled_model(self, run: ScoringRun) -> bool:
        return run.model_version.organization_id is None
