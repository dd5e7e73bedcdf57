"""Shapes of sales email drafts: the request, the draft with its evidence, and the rep's verdict."""

from rest_framework import serializers

from ml.engine.emailgen.types import LENGTHS, TONES
from ml.models import EmailIntent, GeneratedEmail


class EmailOptionsSerializer(serializers.Serializer):
    tone = serializers.ChoiceField(choices=list(TONES), required=False)
    length = serializers.ChoiceField(choices=list(LENGTHS), required=False)


class EmailRequestSerializer(serializers.Serializer):
    """Input of POST /emails/. The contact's organisation is the draft's organisation."""

    contact = serializers.IntegerField(min_value=1, help_text="Id of a contact of one of your organisations.")
    intent = serializers.ChoiceField(choices=EmailIntent.choices)
    deal = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The deal to write about; default: the contact's most recent open deal.",
    )
    options = EmailOptionsSerializer(required=False)


class EmailQueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField(help_text="Poll this until status is ready, failed or refused.")


class CitationSerializer(serializers.Serializer):
    sentence_index = serializers.IntegerField(read_only=True)
    sentence = serializers.CharField(read_only=True)
    fact_ids = serializers.ListField(child=serializers.CharField(), read_only=True)


class GeneratedEmailSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    contact_name = serializers.CharField(source="contact.full_name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    acted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    citations = CitationSerializer(many=True, read_only=True)
    guardrail_report = serializers.JSONField(
        read_only=True,
        help_text="Verdict on the shipped text (passed, violations, citations, claims_checked), every attempt "
        "with its violations or backend error, and whether the composer fallback shipped.",
    )
    fact_sheet = serializers.JSONField(read_only=True, help_text="The facts the draft was checked against.")
    # Declared so the schema lists the "" every unreviewed draft returns (read-only model fields lose it).
    rep_action = serializers.ChoiceField(
        choices=[("", "Not reviewed yet"), *GeneratedEmail.RepAction.choices],
        read_only=True,
        help_text="The rep's verdict; empty until reviewed.",
    )

    class Meta:
        model = GeneratedEmail
        fields = [
            "id",
            "organization",
            "contact",
            "contact_name",
            "deal",
            "intent",
            "options",
            "status",
            "subject",
            "body",
            "citations",
            "guardrail_report",
            "fact_sheet",
            "backend",
            "model_name",
            "fallback_used",
            "latency_seconds",
            "error",
            "rep_action",
            "final_subject",
            "final_body",
            "edit_diff",
            "sent_as_own_words",
            "reject_reason",
            "requested_by",
            "acted_by",
            "acted_at",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class EmailEditSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=300)
    body = serializers.CharField(max_length=20_000)
    own_words = serializers.BooleanField(
        default=False,
        help_text="Send the edit even where the verifier cannot ground a sentence in the CRM facts: it is "
        "recorded as the rep's own words. Without it such an edit is a 422 listing each sentence and why.",
    )


class EmailRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4_000, help_text="Why the draft is not usable.")
