"""Routes of the gunicorn that bench/api_load.py starts: the app's, plus one bare DRF list view.

The bare view is the floor the real contact list is compared with: the same rows (one organisation's live
contacts), the same order (current lead score, highest first, unscored last, id as tie-break), the same page
size and fields, through a plain ListAPIView and ModelSerializer, without authentication, throttling, filters
or tenancy. Bench-only: never part of the shipped routes."""

from django.db.models import F, FilteredRelation, Q
from django.urls import include, path
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny

from ml.models import Task
from salesai.core.models import Contact


class BareContactSerializer(serializers.ModelSerializer):
    current_score = serializers.IntegerField(read_only=True)
    current_probability = serializers.FloatField(read_only=True)
    current_prediction_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "external_id",
            "company",
            "first_name",
            "last_name",
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


class BareContactList(ListAPIView):
    serializer_class = BareContactSerializer
    pagination_class = PageNumberPagination
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    def get_queryset(self):
        current = FilteredRelation(
            "predictions", condition=Q(predictions__task=Task.LEAD_CONVERSION, predictions__is_current=True)
        )
        return (
            Contact.objects.filter(organization__slug=self.kwargs["slug"], deleted_at__isnull=True)
            .annotate(current=current)
            .annotate(
                current_score=F("current__score"),
                current_probability=F("current__probability"),
                current_prediction_id=F("current__id"),
            )
            .order_by(F("current_score").desc(nulls_last=True), "id")
        )


urlpatterns = [
    path("bench/bare-contacts/<slug:slug>/", BareContactList.as_view()),
    path("", include("salesai.urls")),
]
