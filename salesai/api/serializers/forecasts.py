"""Shapes of stored forecasts (one snapshot per run, rows per scope and month) and of their accuracy."""

from rest_framework import serializers

from ml.models import ForecastRow, ForecastSnapshot
from salesai.api.fields import OrganizationField
from salesai.api.serializers.core import ModelVersionRefSerializer, OrganizationSlugField


class ForecastTopDealSerializer(serializers.Serializer):
    deal_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    expected_contribution = serializers.FloatField(read_only=True, help_text="amount x P(closes in the month)")
    probability = serializers.FloatField(read_only=True, allow_null=True)


class ForecastRowSerializer(serializers.ModelSerializer):
    top_deals = ForecastTopDealSerializer(many=True, read_only=True)

    class Meta:
        model = ForecastRow
        fields = [
            "scope",
            "scope_value",
            "month",
            "expected",
            "p10",
            "p50",
            "p90",
            "open_pipeline_part",
            "new_deal_part",
            "top_deals",
            "actual",
        ]
        read_only_fields = fields


class ForecastSnapshotSerializer(serializers.ModelSerializer):
    """List shape: the run without its rows."""

    organization = OrganizationSlugField()
    model_version = ModelVersionRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ForecastSnapshot
        fields = ["id", "organization", "created_at", "as_of", "method", "currency", "months", "model_version"]
        read_only_fields = fields


class ForecastSnapshotDetailSerializer(ForecastSnapshotSerializer):
    """Detail shape: every row (org, team, owner, pipeline x month), or the rows of one `?scope=`."""

    rows = ForecastRowSerializer(many=True, read_only=True, source="rows_prefetched")

    class Meta(ForecastSnapshotSerializer.Meta):
        fields = [*ForecastSnapshotSerializer.Meta.fields, "rows"]
        read_only_fields = fields


class ForecastQuerySerializer(serializers.Serializer):
    """Query-string input of the forecast endpoints."""

    organization = OrganizationField(required=False, help_text="slug or id; needed when you belong to several")
    method = serializers.ChoiceField(choices=ForecastSnapshot.Method.choices, default=ForecastSnapshot.Method.OUR)
    scope = serializers.ChoiceField(choices=ForecastRow.Scope.choices, required=False)


class AccuracyMonthSerializer(serializers.Serializer):
    method = serializers.CharField(read_only=True)
    month = serializers.DateField(read_only=True)
    forecast_as_of = serializers.DateField(read_only=True, help_text="when the forecast of this month was made")
    expected = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)
    p10 = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, allow_null=True)
    p90 = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, allow_null=True)
    actual = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)
    abs_error = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)
    within_80 = serializers.BooleanField(read_only=True, allow_null=True)


class MethodAccuracySerializer(serializers.Serializer):
    method = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    months = serializers.IntegerField(read_only=True)
    wape = serializers.FloatField(read_only=True, allow_null=True, help_text="sum |actual - expected| / sum actual")
    coverage_80 = serializers.FloatField(read_only=True, allow_null=True, help_text="share of months inside P10-P90")


class ForecastAccuracySerializer(serializers.Serializer):
    organization = serializers.CharField(read_only=True)
    methods = MethodAccuracySerializer(many=True, read_only=True)
    months = AccuracyMonthSerializer(many=True, read_only=True, source="rows")
