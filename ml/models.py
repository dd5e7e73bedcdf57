"""Model registry, training runs, predictions (history kept) and reps' feedback."""

from django.conf import settings
from django.db import models

from ml.validators import http_url_validate, llm_endpoint_check
from salesai.core.fields import EncryptedJSONField
from salesai.core.models import Company, Contact, Organization


class Task(models.TextChoices):
    LEAD_CONVERSION = "lead_conversion", "Lead conversion"
    CHURN = "churn", "Churn"
    DEAL_WIN = "deal_win", "Deal win and timing"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="training_runs")
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.LEAD_CONVERSION)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    log = models.JSONField(default=list, blank=True)  # per-epoch losses and held-out metrics
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]

    def __str__(self) -> str:
        return f"TrainingRun {self.pk} {self.task} {self.status}"


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CHAMPION = "champion", "Champion"
        RETIRED = "retired", "Retired"

    # NULL = the pooled model, trained on every organisation's data: the fallback (settings.ML_POOLED_FALLBACK)
    # for organisations with too few outcomes to train their own.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="model_versions"
    )
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.LEAD_CONVERSION)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    architecture = models.CharField(max_length=64)
    training_run = models.ForeignKey(
        TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="model_versions"
    )
    # Held-out metrics (roc_auc, pr_auc, brier, log_loss, ece, ...) and the reliability table.
    metrics = models.JSONField(default=dict, blank=True)
    feature_schema = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500)  # relative to settings.MODEL_STORE_DIR
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    trained_rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "task", "version"], name="modelversion_org_task_version_uniq"
            ),
            models.UniqueConstraint(
                fields=["organization", "task"],
                condition=models.Q(status="champion"),
                name="modelversion_one_champion_per_task",
            ),
            # NULLs never collide in the two constraints above: the pooled models get their own.
            models.UniqueConstraint(
                fields=["task", "version"],
                condition=models.Q(organization__isnull=True),
                name="modelversion_pooled_task_version_uniq",
            ),
            models.UniqueConstraint(
                fields=["task"],
                condition=models.Q(organization__isnull=True, status="champion"),
                name="modelversion_pooled_one_champion_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} v{self.version} ({self.status})"


class Prediction(models.Model):
    class Source(models.TextChoices):
        MODEL = "model", "The organisation's model"
        POOLED = "pooled", "The pooled model (too few outcomes of its own)"
        OVERRIDE = "override", "A rep's override"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.LEAD_CONVERSION)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="predictions")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="predictions")
    # Deal predictions (task deal_win) set only `deal`: contact and company stay NULL.
    deal = models.ForeignKey("core.Deal", on_delete=models.CASCADE, null=True, blank=True, related_name="predictions")
    probability = models.FloatField()  # calibrated
    score = models.PositiveSmallIntegerField()  # round(probability * 100), for lists and CRM fields
    # [{"feature": "lead_source", "label": "Lead source = Referral", "direction": "+", "weight": 0.12}, ...]
    top_factors = models.JSONField(default=list, blank=True)
    # Only the newest prediction per (record, task) is current; older ones stay as history.
    is_current = models.BooleanField(default=True)
    # Who set `probability`: the model, the pooled fallback model, or a rep's override that still stands
    # (no newer activity, deal change or CRM update since). `model_probability` is always the model's own.
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MODEL)
    model_probability = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)  # e.g. why the pooled model scored, whose override
    # Task-specific output. Deals: {"expected_close": "YYYY-MM-DD", "win_by_month": [{"month": "YYYY-MM",
    # "p": 0.12}, ...], "horizon_months": N}; win_by_month is cumulative ("won by the end of that month").
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["contact", "task", "is_current"]),
            models.Index(fields=["organization", "task", "is_current", "score"]),
            models.Index(fields=["deal", "task", "is_current"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "task"],
                condition=models.Q(is_current=True),
                name="prediction_one_current_per_contact",
            ),
            models.UniqueConstraint(
                fields=["deal", "task"],
                condition=models.Q(is_current=True, deal__isnull=False),
                name="prediction_one_current_per_deal",
            ),
            # Account rows (churn): their contact is NULL, and NULLs never collide in the contact constraint.
            models.UniqueConstraint(
                fields=["company", "task"],
                condition=models.Q(is_current=True, contact__isnull=True, company__isnull=False),
                name="prediction_one_current_per_company",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.probability:.3f}"


class Feedback(models.Model):
    class Verdict(models.TextChoices):
        AGREE = "agree", "Agree"
        DISAGREE = "disagree", "Disagree"
        OVERRIDE = "override", "Override"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    override_value = models.FloatField(null=True, blank=True)  # the rep's probability, 0..1, for overrides
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(verdict="override") | models.Q(override_value__isnull=False),
                name="feedback_override_has_value",
            ),
            models.CheckConstraint(
                condition=models.Q(override_value__isnull=True)
                | (models.Q(override_value__gte=0) & models.Q(override_value__lte=1)),
                name="feedback_override_value_range",
            ),
        ]


class TextEmbedding(models.Model):
    """A sentence embedding keyed by the text's sha256, shared by every organisation: the same text always
    encodes to the same vector, so a text is encoded once, ever (per encoder). No text is stored, only its hash."""

    content_sha256 = models.CharField(max_length=64)
    encoder = models.CharField(max_length=64)  # e.g. "all-MiniLM-L6-v2"; a new encoder gets new rows
    dim = models.PositiveSmallIntegerField()
    vector = models.BinaryField()  # float32 little-endian, numpy .tobytes(); exact, 4 * dim bytes
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content_sha256", "encoder"], name="textembedding_sha_encoder_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.encoder} {self.content_sha256[:12]}"


class PendingScoring(models.Model):
    """A contact (or, with contact_id NULL, every open lead) waiting for the organisation's next debounced
    scoring run: bursts of syncs and webhooks add rows, one delayed task takes them all (ml.scoring_services)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # A plain id, not a foreign key: a contact deleted meanwhile is simply not found when scoring.
    contact_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # NULLs never collide, so several "all" rows may coexist; they mean the same thing.
            models.UniqueConstraint(fields=["organization", "contact_id"], name="pendingscoring_org_contact_uniq"),
        ]

    def __str__(self) -> str:
        return f"pending scoring org {self.organization_id} contact {self.contact_id or 'all'}"


class ScoringSchedule(models.Model):
    """One row per organisation: set while a debounced scoring task is queued, so bursts enqueue only one."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="+")
    scheduled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"scoring schedule org {self.organization_id}: {self.scheduled_at or 'idle'}"


# --- sales email drafts ---------------------------------------------------------------------------------------
class EmailIntent(models.TextChoices):
    FIRST_TOUCH = "first_touch", "First touch"
    MEETING_FOLLOW_UP = "meeting_follow_up", "Follow-up after a meeting"
    DEAL_NUDGE = "deal_nudge", "Deal nudge"
    RENEWAL = "renewal", "Renewal"
    WIN_BACK = "win_back", "Win-back (account at churn risk)"


class EmailSettings(models.Model):
    """Per-organisation email generation: which backend drafts, and what every email must carry."""

    class Backend(models.TextChoices):
        LOCAL = "local", "Local Transformer (gpu queue)"
        OPENAI = "openai", "OpenAI-compatible endpoint"
        COMPOSER = "composer", "Deterministic composer only"

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="email_settings")
    backend = models.CharField(max_length=16, choices=Backend.choices, default=Backend.LOCAL)
    # A Hugging Face model id or a local folder; blank = settings.EMAIL_LOCAL_MODEL (the bundled SmolLM2).
    local_model = models.CharField(max_length=500, blank=True)
    openai_base_url = models.CharField(
        max_length=500, blank=True, validators=[http_url_validate]
    )  # http://vllm:8000/v1
    openai_model = models.CharField(max_length=200, blank=True)
    # {"api_key": "..."}; encrypted at rest, never returned by the API or admin.
    openai_credentials = EncryptedJSONField(default=dict, blank=True)
    sender_postal_address = models.CharField(max_length=500, blank=True)
    unsubscribe_text = models.CharField(
        max_length=300, blank=True, default="Reply STOP or use the unsubscribe link to opt out of these emails."
    )
    max_attempts = models.PositiveSmallIntegerField(default=3)  # generations before the composer takes over
    # The organisation's own courtesy phrases ("Warm greetings from * team"), beside the defaults in
    # ml.engine.emailgen.courtesy: sentences that cite no fact and may still ship.
    courtesy_phrases = models.JSONField(
        default=list,
        blank=True,
        help_text='Extra courtesy sentences a draft may carry without citing a fact, as a JSON list, "*" for a few '
        'words: ["Warm greetings from the * team", "Have a good weekend"].',
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "email settings"

    def __str__(self) -> str:
        return f"email settings of {self.organization_id}: {self.backend}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from ml.engine.emailgen.courtesy import courtesy_phrase_invalid

        if not isinstance(self.courtesy_phrases, list) or not all(isinstance(p, str) for p in self.courtesy_phrases):
            raise ValidationError({"courtesy_phrases": "A list of phrases."})
        problems = [f"{p!r}: {why}" for p in self.courtesy_phrases if (why := courtesy_phrase_invalid(p))]
        if problems:
            raise ValidationError({"courtesy_phrases": problems})
        # The endpoint must not reach the deployment's private network unless the operator allowed it.
        if self.openai_base_url.strip():
            try:
                llm_endpoint_check(self.openai_base_url.strip())
            except ValidationError as exc:
                raise ValidationError({"openai_base_url": exc.messages}) from exc


class ProductCatalogueEntry(models.Model):
    """A product the organisation sells: the only products (and list prices) a draft may name."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    list_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="product_org_name_uniq")]

    def __str__(self) -> str:
        return self.name


class EmailSuppression(models.Model):
    """An address that must never receive a sales email from the organisation (bounces, complaints, legal)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="email_suppressions")
    email = models.EmailField(max_length=254)  # stored lower-cased
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "email"], name="suppression_org_email_uniq")]

    def __str__(self) -> str:
        return self.email


class GeneratedEmail(models.Model):
    """One draft request and its life: queued -> generating -> ready (or failed / refused), then the rep's
    action (accepted / edited / rejected), which is the feedback the email models learn from."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    class RepAction(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        EDITED = "edited", "Edited"
        REJECTED = "rejected", "Rejected"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="generated_emails")
    deal = models.ForeignKey("core.Deal", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    intent = models.CharField(max_length=32, choices=EmailIntent.choices)
    options = models.JSONField(default=dict, blank=True)  # tone, length, ...
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    # [{"sentence": 0, "text": "...", "fact_ids": ["deal.12.amount"]}, ...]
    citations = models.JSONField(default=list, blank=True)
    # {"passed": bool, "violations": [...], "attempts": [...], "fallback_used": bool}
    guardrail_report = models.JSONField(default=dict, blank=True)
    fact_sheet = models.JSONField(default=dict, blank=True)  # the facts the draft was checked against
    backend = models.CharField(max_length=32, blank=True)  # the backend whose text was shipped
    model_name = models.CharField(max_length=500, blank=True)
    fallback_used = models.BooleanField(default=False)
    latency_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)  # why it failed or was refused
    rep_action = models.CharField(max_length=16, choices=RepAction.choices, blank=True)
    final_subject = models.CharField(max_length=300, blank=True)
    final_body = models.TextField(blank=True)
    edit_diff = models.TextField(blank=True)  # unified diff of the rep's edit against the draft
    # The rep sent an edit the verifier could not verify, as their own words (the verdict is in
    # guardrail_report["edit_check"]).
    sent_as_own_words = models.BooleanField(default=False)
    reject_reason = models.TextField(blank=True)
    acted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    acted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "rep_action"])]

    def __str__(self) -> str:
        return f"email {self.pk} {self.intent} {self.status}"


# --- scoring runs and drift -----------------------------------------------------------------------------------
class ScoringRun(models.Model):
    """One scoring run of an organisation's leads, with the drift of what was scored: the population stability
    index (PSI) of the score and of the model's input fields, training reference vs the rows scored now."""

    class Trigger(models.TextChoices):
        FULL = "full", "Every open lead"
        PENDING = "pending", "Debounced changes"
        CONTACTS = "contacts", "Chosen contacts"

    class Drift(models.TextChoices):
        STABLE = "stable", "Stable (PSI < 0.1)"
        MODERATE = "moderate", "Moderate (PSI 0.1-0.25)"
        MAJOR = "major", "Major (PSI > 0.25)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scoring_runs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="scoring_runs")
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.LEAD_CONVERSION)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    scored = models.PositiveIntegerField(default=0)
    overrides_kept = models.PositiveIntegerField(default=0)  # predictions served from a standing rep override
    score_histogram = models.JSONField(default=dict, blank=True)  # the model's scores in ten buckets
    mean_probability = models.FloatField(null=True, blank=True)
    # NULL when the model version carries no training reference (trained before drift was recorded).
    score_psi = models.FloatField(null=True, blank=True)
    # {"lead_source": {"psi": 0.03, "band": "stable", "label": "Lead source"}, ...}
    feature_psi = models.JSONField(default=dict, blank=True)
    drift = models.CharField(max_length=16, choices=Drift.choices, blank=True)  # the score PSI's band

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "-started_at"])]

    def __str__(self) -> str:
        return f"scoring run {self.pk} ({self.scored} scored, drift {self.drift or 'unknown'})"


# --- deal forecasts -------------------------------------------------------------------------------------------
class ForecastSnapshot(models.Model):
    """One forecast run: bookings per month for the next months, per org / team / owner / pipeline (ForecastRow).
    Kept per run, so the product shows how the forecast moved and how accurate past forecasts were."""

    class Method(models.TextChoices):
        OUR = "our", "Our forecast (Monte Carlo over calibrated deal win-by-month probabilities)"
        STAGE_WEIGHTED = "stage_weighted", "Stage-weighted pipeline"
        COMMIT = "commit", "CRM commit (open deals closing in the month)"
        RUN_RATE = "run_rate", "Trailing run-rate (mean of the last 3 months' bookings)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="forecast_snapshots")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    as_of = models.DateField()
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="forecast_snapshots"
    )
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.OUR)
    currency = models.CharField(max_length=3)  # the organisation's base currency; every amount is in it
    months = models.JSONField(default=list, blank=True)  # ["2026-12-01", "2027-01-01", "2027-02-01"]

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "method", "-created_at"])]

    def __str__(self) -> str:
        return f"forecast {self.pk} {self.method} as of {self.as_of}"


class ForecastRow(models.Model):
    class Scope(models.TextChoices):
        ORG = "org", "Organisation"
        TEAM = "team", "Team"
        OWNER = "owner", "Owner"
        PIPELINE = "pipeline", "Pipeline"

    snapshot = models.ForeignKey(ForecastSnapshot, on_delete=models.CASCADE, related_name="rows")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    scope_value = models.CharField(max_length=255, blank=True)  # "" for the org row
    month = models.DateField()  # first day of the month
    expected = models.DecimalField(max_digits=18, decimal_places=2)
    p10 = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    p50 = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    p90 = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    open_pipeline_part = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    new_deal_part = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    # [{"deal_id": 1, "name": "...", "expected_contribution": 1234.5, "probability": 0.4}, ...]
    top_deals = models.JSONField(default=list, blank=True)
    actual = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)  # once the month closed

    class Meta:
        ordering = ["snapshot", "scope", "scope_value", "month"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "scope", "scope_value", "month"], name="forecastrow_snapshot_scope_month_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.scope_value} {self.month}: {self.expected}"
