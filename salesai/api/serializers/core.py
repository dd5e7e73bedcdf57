"""Shapes of CRM records in the API. Read-only: the CRM is the system of record, syncs write them."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.models import Prediction
from salesai.api.serializers.ml import FactorSerializer
from salesai.core.models import Activity, Company, Contact, Deal

SYNCED_FIELDS = [
    "id",
    "organization",
    "connection",
    "external_id",
    "properties",
    "remote_updated_at",
    "created_at",
    "updated_at",
]


class OrganizationSlugField(serializers.SlugRelatedField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(slug_field="slug", read_only=True, **kwargs)


class CompanySerializer(serializers.ModelSerializer):
    """List shape: the current churn risk comes from annotations (ml.churn_selectors), no query per row."""

    organization = OrganizationSlugField()
    churn_risk = serializers.FloatField(
        read_only=True, allow_null=True, help_text="calibrated churn probability, null when unscored"
    )
    churn_score = serializers.IntegerField(read_only=True, allow_null=True, help_text="0-100, null when unscored")
    churn_prediction_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Company
        fields = [
            *SYNCED_FIELDS,
            "name",
            "domain",
            "industry",
            "employee_count",
            "annual_revenue",
            "country",
            "city",
            "churn_risk",
            "churn_score",
            "churn_prediction_id",
        ]
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer):
    """List shape: the current lead-conversion score comes from annotations, no extra query per row."""

    organization = OrganizationSlugField()
    company_name = serializers.CharField(source="company.name", read_only=True, allow_null=True, default=None)
    full_name = serializers.CharField(read_only=True)
    current_score = serializers.IntegerField(read_only=True, allow_null=True, help_text="0-100, null when unscored")
    current_probability = serializers.FloatField(read_only=True, allow_null=True)
    current_prediction_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Contact
        fields = [
            *SYNCED_FIELDS,
            "company",
            "company_name",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "job_title",
            "lead_source",
            "lead_status",
            "lifecycle_stage",
            "owner_email",
            "opted_out",
            "remote_created_at",
            "converted_at",
            "current_score",
            "current_probability",
            "current_prediction_id",
        ]
        read_only_fields = fields


class ModelVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    version = serializers.IntegerField(read_only=True)
    architecture = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)


class CurrentPredictionSerializer(serializers.ModelSerializer):
    model_version = ModelVersionRefSerializer(read_only=True)
    top_factors = FactorSerializer(many=True, read_only=True)

    class Meta:
        model = Prediction
        fields = ["id", "task", "score", "probability", "model_version", "top_factors", "created_at"]
        read_only_fields = fields


class ContactDetailSerializer(ContactSerializer):
    """Detail shape: adds the current prediction with its model version and the reasons behind it."""

    current_prediction = serializers.SerializerMethodField()

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "current_prediction"]
        read_only_fields = fields

    @extend_schema_field(CurrentPredictionSerializer(allow_null=True))
    def get_current_prediction(self, contact: Contact) -> dict | None:
        # `current_predictions` is prefetched by ml.selectors.contacts_with_current_prediction.
        predictions = getattr(contact, "current_predictions", [])
        return CurrentPredictionSerializer(predictions[0]).data if predictions else None


class CompanyDetailSerializer(CompanySerializer):
    """Detail shape: adds the current churn prediction with its model version and the reasons behind it."""

    current_churn_prediction = serializers.SerializerMethodField()

    class Meta(CompanySerializer.Meta):
        fields = [*CompanySerializer.Meta.fields, "current_churn_prediction"]
        read_only_fields = fields

    @extend_schema_field(CurrentPredictionSerializer(allow_null=True))
    def get_current_churn_prediction(self, company: Company) -> dict | None:
        # `current_churn_predictions` is prefetched by ml.churn_selectors.companies_with_churn_prediction.
        predictions = getattr(company, "current_churn_predictions", [])
        return CurrentPredictionSerializer(predictions[0]).data if predictions else None


class DealSerializer(serializers.ModelSerializer):
    organization = OrganizationSlugField()

    class Meta:
        model = Deal
        fields = [
            *SYNCED_FIELDS,
            "company",
            "contact",
            "name",
            "amount",
            "currency",
            "pipeline",
            "stage",
            "status",
            "close_date",
            "remote_created_at",
        ]
        read_only_fields = fields


class ActivitySerializer(serializers.ModelSerializer):
    organization = OrganizationSlugField()

    class Meta:
        model = Activity
        fields = [*SYNCED_FIELDS, "kind", "direction", "subject", "body", "occurred_at", "contact", "company", "deal"]
        read_only_fields = fields
