"""Shapes of data-subject requests (export, erase) in the API."""

from typing import Any

from rest_framework import serializers

from salesai.api.fields import OrganizationField


class PersonRequestSerializer(serializers.Serializer):
    """Whom the request is about: an email address (every contact with it) or a contact id (and every contact
    sharing its email). `organization` may be left out for a contact id, or when the caller has one only."""

    organization = OrganizationField(required=False)
    email = serializers.EmailField(required=False, max_length=254)
    contact = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("email") and not attrs.get("contact"):
            raise serializers.ValidationError("Give `email` or `contact`.")
        return attrs


class ErasureReportSerializer(serializers.Serializer):
    contacts = serializers.IntegerField()
    activities = serializers.IntegerField()
    predictions = serializers.IntegerField()
    feedback = serializers.IntegerField()
    email_drafts = serializers.IntegerField()
    score_writes = serializers.IntegerField()
    text_embeddings = serializers.IntegerField()
    webhook_events_redacted = serializers.IntegerField()
    sync_error_entries_removed = serializers.IntegerField()
    company_reasons_removed = serializers.IntegerField()
    tombstones = serializers.IntegerField()
