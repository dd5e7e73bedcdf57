"""Connections to CRMs, their sync runs, and inbound webhook events."""

from django.db import models

from salesai.core.fields import EncryptedJSONField
from salesai.core.models import Organization


class CRMConnection(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="crm_connections")
    kind = models.CharField(max_length=32)  # a registered connector name: csv, hubspot, salesforce, pipedrive
    name = models.CharField(max_length=120)
    # Non-secret settings (base URL, CSV folder and column mapping, writeback field...).
    config = models.JSONField(default=dict, blank=True)
    # Tokens and passwords: encrypted at rest, write-only in the API, never shown in the admin.
    credentials = EncryptedJSONField(blank=True, default=dict)
    # Per-object incremental cursors; saved only after the page they describe is committed.
    cursor = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(default=60)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="crmconnection_org_name_uniq")]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class SyncRun(models.Model):
    class Mode(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with row errors"  # some records were rejected: never "succeeded"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(CRMConnection, on_delete=models.CASCADE, related_name="sync_runs")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.INCREMENTAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cursor_before = models.JSONField(default=dict, blank=True)
    cursor_after = models.JSONField(default=dict, blank=True)
    # Row-level problems: [{"object": "contacts", "line": 12, "column": "Email", "reason": "..."}].
    errors = models.JSONField(default=list, blank=True)
    error_summary = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life: a queued run's task was sent, or a running run committed a page or waited on its
    # CRM. Null while queued = its task could not be sent. Stale = the outbox sweeper sends it (again):
    # a queued run after OUTBOX_RESEND_AFTER_SECONDS, a running one after SYNC_RUN_HEARTBEAT_STALE_SECONDS.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]

    def __str__(self) -> str:
        return f"SyncRun {self.pk} {self.connection} {self.status}"


class WebhookEvent(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        # Refused at the edge (a NUL in a value, an over-long id...), kept sanitized for inspection and replay;
        # the rest of its delivery is stored as usual.
        REJECTED = "rejected", "Rejected on receipt"

    connection = models.ForeignKey(CRMConnection, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=255)  # the CRM's own event id: a redelivery is a no-op
    payload = models.JSONField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When its processing task was last sent (the row is the outbox): null = the send failed, so the outbox
    # sweeper sends it at its next pass; a `received` row older than OUTBOX_RESEND_AFTER_SECONDS is sent again.
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "event_id"], name="webhookevent_connection_event_uniq")
        ]
        ordering = ["-received_at"]


class WriteOutcome(models.Model):
    """The latest value we tried to write into one CRM record, and how it went: a later run compares the
    current value with `score` and writes only what changed or what failed last time."""

    class Status(models.TextChoices):
        WRITTEN = "written", "Written"
        FAILED = "failed", "Failed"

    external_id = models.CharField(max_length=255)
    score = models.PositiveSmallIntegerField()  # 0-100, the value written (or attempted when failed)
    probability = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)  # consecutive attempts at this value (1 once written)
    written_at = models.DateTimeField(null=True, blank=True)  # the last successful write
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.connection_id}/{self.external_id} {self.score} {self.status}"


class ScoreWrite(WriteOutcome):
    """The lead score written into one CRM contact: one row per (connection, contact)."""

    connection = models.ForeignKey(CRMConnection, on_delete=models.CASCADE, related_name="score_writes")
    contact = models.ForeignKey("core.Contact", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "contact"], name="scorewrite_connection_contact_uniq")
        ]
        ordering = ["connection", "contact"]


class CompanyScoreWrite(WriteOutcome):
    """The churn risk written into one CRM company (account, organization): one row per (connection, company)."""

    connection = models.ForeignKey(CRMConnection, on_delete=models.CASCADE, related_name="company_score_writes")
    company = models.ForeignKey("core.Company", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "company"], name="companyscorewrite_connection_company_uniq")
        ]
        ordering = ["connection", "company"]


class DealScoreWrite(WriteOutcome):
    """The win probability (`score`, 0-100) and expected close written into one CRM deal: one row per
    (connection, deal); a later run writes again only when either value changed or the write failed."""

    connection = models.ForeignKey(CRMConnection, on_delete=models.CASCADE, related_name="deal_score_writes")
    deal = models.ForeignKey("core.Deal", on_delete=models.CASCADE, related_name="+")
    expected_close = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "deal"], name="dealscorewrite_connection_deal_uniq")
        ]
        ordering = ["connection", "deal"]


class UnroutedWebhookEvent(models.Model):
    """A verified app-level delivery (HubSpot) for an account that no active connection is linked to.

    Acknowledged (the CRM would otherwise retry for days) and kept here so an operator sees which accounts
    send events without a connection; never processed: there is no connection to read or write through.
    """

    kind = models.CharField(max_length=32)  # the connector: hubspot
    app_id = models.CharField(max_length=64)
    account_id = models.CharField(max_length=64, blank=True)  # HubSpot's portalId ('' when the event had none)
    event_id = models.CharField(max_length=255)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "app_id", "event_id"], name="unroutedwebhookevent_app_event_uniq")
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.kind} app {self.app_id} account {self.account_id or '?'} event {self.event_id}"
