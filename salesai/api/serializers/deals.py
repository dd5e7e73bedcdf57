"""Shapes of deals with their current win probability, expected close, win-by-month and reasons."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.models import Prediction
from salesai.api.serializers.core import DealSerializer, ModelVersionRefSerializer
from salesai.api.serializers.ml import FactorSerializer
from salesai.core.models import Deal, DealHistory
from salesai.dashboard.deal_reasons import deal_reasons
from salesai.dashboard.deal_selectors import deal_current_win_prediction, deal_is_slipping, deal_win_by_month


class WinByMonthSerializer(serializers.Serializer):
    month = serializers.CharField(read_only=True, help_text="YYYY-MM")
    p = serializers.FloatField(read_only=True, source="cumulative", help_text="P(won by the end of the month)")
    p_in_month = serializers.FloatField(read_only=True, source="in_month", help_text="P(won within the month)")


class DealReasonSerializer(serializers.Serializer):
    text = serializers.CharField(read_only=True, help_text="the reason in a rep's words")
    raises = serializers.BooleanField(read_only=True, help_text="true: makes a win more likely")


class DealWinPredictionSerializer(serializers.ModelSerializer):
    model_version = ModelVersionRefSerializer(read_only=True)
    top_factors = FactorSerializer(many=True, read_only=True, help_text="the reasons, strongest first")
    expected_close = serializers.SerializerMethodField()
    horizon_months = serializers.SerializerMethodField()
    win_by_month = serializers.SerializerMethodField()
    reasons = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id",
            "probability",
            "score",
            "expected_close",
            "horizon_months",
            "win_by_month",
            "reasons",
            "top_factors",
            "source",
            "model_version",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_expected_close(self, prediction: Prediction) -> str | None:
        return (prediction.details or {}).get("expected_close") or None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_horizon_months(self, prediction: Prediction) -> int | None:
        return (prediction.details or {}).get("horizon_months")

    @extend_schema_field(WinByMonthSerializer(many=True))
    def get_win_by_month(self, prediction: Prediction) -> list[dict]:
        return WinByMonthSerializer(deal_win_by_month(prediction=prediction), many=True).data

    @extend_schema_field(DealReasonSerializer(many=True))
    def get_reasons(self, prediction: Prediction) -> list[dict]:
        return DealReasonSerializer(deal_reasons(factors=prediction.top_factors), many=True).data


class DealWithWinSerializer(DealSerializer):
    """A deal with its current win prediction: the probability, score and expected close are annotations
    (ordering uses them); the prediction itself is prefetched once per page."""

    win_probability = serializers.FloatField(
        read_only=True, allow_null=True, help_text="calibrated P(won within the horizon), null when unscored"
    )
    win_score = serializers.IntegerField(read_only=True, allow_null=True, help_text="0-100, null when unscored")
    expected_close = serializers.DateField(read_only=True, allow_null=True)
    close_date_pushes = serializers.IntegerField(read_only=True, help_text="times the close date moved later")
    slipping = serializers.SerializerMethodField(help_text="open, and its close date passed or was pushed twice")
    win_prediction = serializers.SerializerMethodField()

    class Meta(DealSerializer.Meta):
        fields = [
            *DealSerializer.Meta.fields,
            "owner_email",
            "amount_base",
            "closed_at",
            "win_probability",
            "win_score",
            "expected_close",
            "close_date_pushes",
            "slipping",
            "win_prediction",
        ]
        read_only_fields = fields

    def get_slipping(self, deal: Deal) -> bool:
        return deal_is_slipping(deal=deal)

    @extend_schema_field(DealWinPredictionSerializer(allow_null=True))
    def get_win_prediction(self, deal: Deal) -> dict | None:
        prediction = deal_current_win_prediction(deal=deal)
        return DealWinPredictionSerializer(prediction).data if prediction else None


class DealHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = DealHistory
        fields = ["field", "old_value", "new_value", "changed_at", "source"]
        read_only_fields = fields


class DealDetailSerializer(DealWithWinSerializer):
    """Detail shape: adds the recorded changes of stage, amount, close date, owner and status, newest first."""

    history = serializers.SerializerMethodField()

    class Meta(DealWithWinSerializer.Meta):
        fields = [*DealWithWinSerializer.Meta.fields, "history"]
        read_only_fields = fields

    @extend_schema_field(DealHistorySerializer(many=True))
    def get_history(self, deal: Deal) -> list[dict]:
        # `history_recent` is prefetched by salesai.dashboard.deal_selectors.deals_with_history.
        return DealHistorySerializer(getattr(deal, "history_recent", []), many=True).data
