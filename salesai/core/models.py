"""Tenancy and the CRM domain.

Every CRM row belongs to one Organization and, when it came from a CRM, to one connection: the pair
`(connection, external_id)` is unique, so re-syncing updates rows instead of duplicating them. The
connection model lives in `crm_connectors`; it is referenced by string so this app imports nothing from it.
"""

import hashlib

from django.conf import settings
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    settings = models.JSONField(default=dict, blank=True)
    base_currency = models.CharField(max_length=3, default="USD")  # deal amounts are converted into it
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        REP = "rep", "Sales rep"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_user_org_uniq")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class SyncedRecord(models.Model):
    """Fields every CRM-synced row carries."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "crm_connectors.CRMConnection", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    external_id = models.CharField(max_length=255)
    properties = models.JSONField(default=dict, blank=True)  # CRM custom fields, as the CRM sent them
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)  # soft delete
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="%(class)s_connection_external_id_uniq"),
        ]


class Company(SyncedRecord):
    name = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, blank=True)
    industry = models.CharField(max_length=120, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    country = models.CharField(max_length=80, blank=True)
    city = models.CharField(max_length=120, blank=True)

    class Meta(SyncedRecord.Meta):
        verbose_name_plural = "companies"
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name"])]

    def __str__(self) -> str:
        return self.name


class Contact(SyncedRecord):
    class LifecycleStage(models.TextChoices):
        SUBSCRIBER = "subscriber", "Subscriber"
        LEAD = "lead", "Lead"
        MQL = "mql", "Marketing qualified lead"
        SQL = "sql", "Sales qualified lead"
        OPPORTUNITY = "opportunity", "Opportunity"
        CUSTOMER = "customer", "Customer"
        OTHER = "other", "Other"

    company = models.ForeignKey(Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="contacts")
    first_name = models.CharField(max_length=120, blank=True)
    last_name = models.CharField(max_length=120, blank=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=64, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    lead_source = models.CharField(max_length=80, blank=True)
    lead_status = models.CharField(max_length=80, blank=True)
    lifecycle_stage = models.CharField(max_length=16, choices=LifecycleStage.choices, blank=True)
    owner_email = models.EmailField(max_length=254, blank=True)
    opted_out = models.BooleanField(default=False)  # unsubscribed from sales email
    remote_created_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)  # became a customer: the lead-scoring outcome

    class Meta(SyncedRecord.Meta):
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["organization", "last_name"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email or self.external_id

    @property
    def full_name(self) -> str:
        return str(self)


class Deal(SyncedRecord):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    company = models.ForeignKey(Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals")
    name = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    pipeline = models.CharField(max_length=120, blank=True)
    stage = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    close_date = models.DateField(null=True, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    owner_email = models.EmailField(max_length=254, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # when the status became won or lost
    # The amount in the organisation's base currency; NULL when no stored rate converts it (never summed then).
    amount_base = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)

    class Meta(SyncedRecord.Meta):
        ordering = ["-close_date", "name"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return self.name


class DealHistory(models.Model):
    """One change of one tracked deal field, as the CRM had it: the point-in-time record the deal models and the
    forecast backtest replay (`deal_history.deal_snapshots_as_of`). Appended, never edited."""

    class Field(models.TextChoices):
        STAGE = "stage", "Stage"
        AMOUNT = "amount", "Amount"
        CURRENCY = "currency", "Currency"
        CLOSE_DATE = "close_date", "Close date"
        OWNER_EMAIL = "owner_email", "Owner"
        STATUS = "status", "Status"
        PIPELINE = "pipeline", "Pipeline"

    class Source(models.TextChoices):
        SYNC = "sync", "Sync"
        WEBHOOK = "webhook", "Webhook"
        BACKFILL = "backfill", "CRM history backfill"
        DEMO = "demo", "Demo generator"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="history")
    field = models.CharField(max_length=16, choices=Field.choices)
    old_value = models.TextField(blank=True)  # "" for no value
    new_value = models.TextField(blank=True)
    changed_at = models.DateTimeField()  # when the CRM made the change, or when we first saw it
    source = models.CharField(max_length=8, choices=Source.choices)

    class Meta:
        verbose_name_plural = "deal history"
        ordering = ["deal_id", "changed_at", "id"]
        indexes = [
            models.Index(fields=["deal", "changed_at"]),
            models.Index(fields=["organization", "changed_at"]),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id} {self.field}: {self.old_value!r} -> {self.new_value!r} at {self.changed_at}"


class PipelineStage(models.Model):
    """A stage of one CRM pipeline: names differ per pipeline, and the CRM's default win probability is the
    stage-weighted baseline the forecast is compared with."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    pipeline = models.CharField(max_length=120, blank=True)
    stage = models.CharField(max_length=120)
    display_order = models.IntegerField(default=0)
    probability = models.FloatField(null=True, blank=True)  # the CRM's default win probability 0..1
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)

    class Meta:
        ordering = ["pipeline", "display_order", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "pipeline", "stage"], name="pipeline_stage_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline or '(default)'} / {self.stage}"


class CurrencyRate(models.Model):
    """How many units of the organisation's base currency one unit of `currency` is worth from `valid_from`."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    rate_to_base = models.DecimalField(max_digits=18, decimal_places=8)
    valid_from = models.DateField()

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "currency", "valid_from"], name="currency_rate_uniq"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate_to_base} base from {self.valid_from}"


class OwnerTeam(models.Model):
    """The team a CRM deal owner belongs to (edited in admin): the forecast's per-team rows."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    owner_email = models.EmailField(max_length=254)
    team = models.CharField(max_length=120)

    class Meta:
        ordering = ["team", "owner_email"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "owner_email"], name="owner_team_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_email} in {self.team}"


class Activity(SyncedRecord):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        TASK = "task", "Task"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"
        NONE = "", "—"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    direction = models.CharField(max_length=8, choices=Direction.choices, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities")
    company = models.ForeignKey(Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities")
    deal = models.ForeignKey(Deal, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities")

    class Meta(SyncedRecord.Meta):
        verbose_name_plural = "activities"
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["contact", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject or self.body[:40]}"


class AuditLogEntry(models.Model):
    """Who did what, when, to which organisation: promotions and rollbacks, connection changes, personal-data
    exports and erasures. Written by the services that do the thing, never edited."""

    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_log_entries"
    )
    # NULL: the system itself (the gate promoting a model, a scheduled job) or an operator's command.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)  # "<entity>.<verb>": model_version.promote, ...
    target_type = models.CharField(max_length=64, blank=True)  # "ml.modelversion", "core.contact", ...
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)  # never personal data: ids, counts, hashes
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit log entries"
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_type} {self.target_id}".strip()


class ErasedPerson(models.Model):
    """Tombstone of a person erased on request (GDPR art. 17): the CRM sync never imports them again and the
    training frames leave them out. Holds no personal data, only the CRM record id and a hash of the email."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "crm_connectors.CRMConnection", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    external_id = models.CharField(max_length=255, blank=True)  # the contact's id in that connection's CRM
    email_sha256 = models.CharField(max_length=64, blank=True, db_index=True)  # of the trimmed, lower-cased email
    erased_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["connection", "external_id"])]

    def __str__(self) -> str:
        return f"erased person {self.pk} of organisation {self.organization_id}"

    @staticmethod
    def email_key(email: str | None) -> str:
        """sha256 of the trimmed, lower-cased address ("" for no address): how tombstones match emails."""
        normalized = (email or "").strip().lower()
        return hashlib.sha256(normalized.encode("utf-8")).hexdigest() if normalized else ""
