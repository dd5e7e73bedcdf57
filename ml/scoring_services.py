"""Lead scoring: score contacts with the champion and store Predictions, and the debounced scoring requests.

`contacts_score` turns open leads into frames (ml.features), scores them with the served model of the champion
(any family; a former champion when its artifact is refused; the pooled model when allowed), serves reps'
standing overrides, writes the Predictions and a ScoringRun with drift. `scoring_enqueue` stores a request in
PendingScoring and queues one debounced `score_contacts` task per organisation; `pending_scoring_run` is
that task's body and `pending_scoring_sweep` the beat sweep that re-queues what never reached the broker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ml.features.lead import lead_feature_frame, lead_property_keys
from ml.models import ModelVersion, PendingScoring, Prediction, ScoringRun, ScoringSchedule, Task
from ml.overrides import ServedScores, scores_serve
from ml.pooled import pooled_fallback_note
from ml.scoring_runs import scoring_drift_accumulator, scoring_run_record
from ml.selectors import model_version_champion_get, model_version_pooled_champion_get
from ml.signals import predictions_updated
from salesai.core.db_retry import db_call_retried
from salesai.core.models import Contact

# The torch-backed modules (ml.engine.*, ml.registry, ml.serving) are imported inside the functions that need
# them: the web process and admin import this module and should not pay for torch.

logger = logging.getLogger(__name__)

SCORING_CHUNK = 5_000  # contacts per feature frame / transaction: bounds memory and lock time


class NoChampionModel(ValidationError):
    """Scoring was asked for but the organisation has no champion model for the task yet."""


class ModelArtifactUnavailable(ValidationError):
    """No model artifact of the organisation could be loaded intact (missing file or sha256 mismatch)."""


@dataclass(frozen=True)
class ScoringResult:
    organization_id: int
    model_version_id: int
    scored: int
    prediction_ids: list[int] = field(repr=False)
    # Scores (0..100) counted in ten buckets: "0-9", "10-19", ..., "90-100".
    score_histogram: dict[str, int] = field(default_factory=dict)
    mean_probability: float | None = None
    seconds: float = 0.0
    # Set when the champion's artifact was refused (e.g. sha256 mismatch) and a previous champion scored.
    fallback_from_model_version_id: int | None = None
    scoring_run_id: int | None = None  # the ScoringRun row with this run's drift
    overrides_kept: int = 0  # contacts served a rep's standing override instead of the model's score
    pooled: bool = False  # scored by the pooled fallback model (the organisation has none of its own)


def contacts_score(
    *,
    organization_id: int,
    contact_ids: list[int] | None = None,
    model_version_id: int | None = None,
    trigger: str | None = None,
) -> ScoringResult:
    """Score contacts with the champion (or the given version) and store Predictions: the new row is
    current, the contact's previous current row becomes history in the same transaction.

    Only open leads are scored (not deleted, not converted: a conversion score for a customer means
    nothing); `contact_ids` narrows that set, e.g. to the contacts a sync changed.

    A rep's override that still stands is served instead of the model's score (ml.overrides); without a
    champion of its own an organisation is scored by the pooled model when ML_POOLED_FALLBACK is on
    (ml.pooled). Each run is stored as a ScoringRun with the drift (PSI) of what it scored."""
    from ml.engine.checkpoints import CheckpointError
    from ml.engine.inference import torch_threads_set
    from ml.features.text import lead_text_inputs

    started = time.monotonic()
    started_at = timezone.now()
    model_version = _scoring_version(organization_id=organization_id, model_version_id=model_version_id)
    contacts = Contact.objects.filter(
        organization_id=organization_id, deleted_at__isnull=True, converted_at__isnull=True
    )
    if contact_ids is not None:
        contacts = contacts.filter(id__in=list(contact_ids))
    ids = list(contacts.order_by("id").values_list("id", flat=True))

    torch_threads_set(settings.ML_TORCH_THREADS)
    refused_id: int | None = None
    try:
        model = _model_load(model_version)
    except CheckpointError as exc:
        if model_version_id is not None:  # a version asked for by id: no silent substitute
            raise ModelArtifactUnavailable({"model_version_id": f"Model artifact refused: {exc}"}) from exc
        logger.error("champion %s of organization %s refused: %s", model_version.pk, organization_id, exc)
        refused_id = model_version.id
        model_version, model = _previous_champion_load(champion=model_version, error=exc)
    property_keys = lead_property_keys(model.schema)
    pooled = model_version.organization_id is None
    source = Prediction.Source.POOLED if pooled else Prediction.Source.MODEL
    note = pooled_fallback_note(organization_id=organization_id) if pooled else ""
    drift = scoring_drift_accumulator(model_version=model_version)
    overrides_kept = 0
    as_of = timezone.now()
    prediction_ids: list[int] = []
    probabilities: list[np.ndarray] = []
    for start in range(0, len(ids), SCORING_CHUNK):
        chunk = ids[start : start + SCORING_CHUNK]
        frame = lead_feature_frame(
            organization_id=organization_id, as_of=as_of, contact_ids=chunk, property_keys=property_keys
        )
        text_evidence = None
        if model.text_columns:  # text models only: older checkpoints and baselines score without it
            text = lead_text_inputs(organization_id=organization_id, contact_ids=list(frame.index), as_of=as_of)
            frame, text_evidence = frame.join(text.columns), text.evidence
        probability, factors = model.score(
            frame, batch_size=settings.ML_SCORING_BATCH_SIZE, text_evidence=text_evidence
        )
        drift.add(frame=frame, probabilities=probability)
        served = scores_serve(
            contact_ids=[int(i) for i in frame.index],
            probabilities=probability,
            task=model_version.task,
            source=source,
            note=note,
        )
        overrides_kept += served.overrides
        prediction_ids += _predictions_write(
            organization_id=organization_id,
            model_version=model_version,
            contact_ids=[int(i) for i in frame.index],
            probabilities=probability,
            factors=factors,
            served=served,
        )
        probabilities.append(probability)
    scored_contact_ids = (
        sorted(Prediction.objects.filter(pk__in=prediction_ids).values_list("contact_id", flat=True))
        if prediction_ids
        else []
    )
    if scored_contact_ids:
        # Listeners (CRM writeback) act only on committed scores.
        transaction.on_commit(
            lambda: predictions_updated.send_robust(
                sender=Prediction, organization_id=organization_id, contact_ids=scored_contact_ids
            )
        )
    scores = np.round(np.concatenate(probabilities) * 100) if probabilities else np.zeros(0)
    histogram = _histogram(scores)  # the model's own scores (overrides aside): what drift is about
    mean_probability = float(np.concatenate(probabilities).mean()) if len(scores) else None
    run = scoring_run_record(
        organization_id=organization_id,
        model_version=model_version,
        trigger=trigger or (ScoringRun.Trigger.FULL if contact_ids is None else ScoringRun.Trigger.CONTACTS),
        started_at=started_at,
        scored=len(prediction_ids),
        overrides_kept=overrides_kept,
        score_histogram=histogram,
        mean_probability=mean_probability,
        drift=drift,
    )
    return ScoringResult(
        organization_id=organization_id,
        model_version_id=model_version.id,
        scored=len(prediction_ids),
        prediction_ids=prediction_ids,
        score_histogram=histogram,
        mean_probability=mean_probability,
        seconds=round(time.monotonic() - started, 3),
        fallback_from_model_version_id=refused_id,
        scoring_run_id=run.id,
        overrides_kept=overrides_kept,
        pooled=pooled,
    )


def _model_load(model_version: ModelVersion) -> Any:
    """The served model (any family) of a version: ml.serving.ServedTableModel."""
    from ml.serving import served_model_load

    return served_model_load(model_version=model_version, device=settings.ML_DEVICE)


def _previous_champion_load(*, champion: ModelVersion, error: Exception) -> tuple[ModelVersion, Any]:
    """The champion's artifact is missing or altered: serve the most recent former champion whose artifact
    loads intact. Statuses are left alone (an operator decides: retrain, or roll back for good); with no
    intact former champion, scoring fails before any prediction is written."""
    from ml.engine.checkpoints import CheckpointError

    previous = ModelVersion.objects.filter(
        organization_id=champion.organization_id,
        task=champion.task,
        status=ModelVersion.Status.RETIRED,
        promoted_at__isnull=False,
    ).order_by("-promoted_at", "-version")
    for candidate in previous:
        try:
            model = _model_load(candidate)
        except CheckpointError as exc:
            logger.error("former champion %s refused too: %s", candidate.pk, exc)
            continue
        logger.warning(
            "scoring organization %s with former champion v%s instead of v%s",
            champion.organization_id,
            candidate.version,
            champion.version,
        )
        return candidate, model
    raise ModelArtifactUnavailable(
        {"model_version_id": f"The champion's artifact was refused ({error}) and no former champion loads."}
    )


# A queued debounced task older than this is presumed lost (broker restart, failed enqueue): the next
# request enqueues again. A duplicate is harmless: whichever task runs second finds nothing pending.
SCORING_SCHEDULE_LOST_AFTER = timedelta(minutes=30)


def scoring_enqueue(*, organization_id: int, contact_ids: list[int] | None = None) -> None:
    """Ask the gpu queue to (re)score contacts (None: every open lead), debounced: the request is stored
    in PendingScoring and, once this transaction commits, ONE `score_contacts` task per organisation is
    queued with a countdown of ML_RESCORE_DEBOUNCE_SECONDS; it scores the union of everything requested
    until it runs. Bursts (a sync's pages, a storm of webhooks) thus cost one scoring run, not hundreds."""
    ids = None if contact_ids is None else sorted({int(i) for i in contact_ids})
    if ids is not None and not ids:
        return
    if ids is None:
        PendingScoring.objects.create(organization_id=organization_id, contact_id=None)
    else:
        _pending_scoring_add(organization_id=organization_id, contact_ids=ids)
    # Deciding after commit (not now) is what makes it race-free: either the task's take already sees
    # these rows, or it had cleared the flag before and this claim succeeds and queues a new task.
    transaction.on_commit(lambda: _scoring_task_claim_and_enqueue(organization_id=organization_id))


def _pending_scoring_add(*, organization_id: int, contact_ids: list[int]) -> None:
    """Store the requests, skipping contacts already waiting. A sync asks for thousands of ids per page:
    on PostgreSQL one statement over an array, not a model instance and a bound parameter pair per id."""
    if connection.vendor != "postgresql":
        PendingScoring.objects.bulk_create(
            [PendingScoring(organization_id=organization_id, contact_id=i) for i in contact_ids],
            batch_size=SCORING_CHUNK,
            ignore_conflicts=True,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PendingScoring._meta.db_table} (organization_id, contact_id, created_at) "
            "SELECT %s, unnest(%s::bigint[]), %s ON CONFLICT DO NOTHING",
            [organization_id, contact_ids, timezone.now()],
        )


def _scoring_task_claim_and_enqueue(*, organization_id: int) -> bool:
    """Queue the organisation's debounced task unless one is queued already; True when this call queued it."""
    from ml.tasks import score_contacts  # tasks import this module: import here to avoid a cycle

    now = timezone.now()
    ScoringSchedule.objects.get_or_create(organization_id=organization_id)
    claimed = ScoringSchedule.objects.filter(
        Q(scheduled_at__isnull=True) | Q(scheduled_at__lt=now - SCORING_SCHEDULE_LOST_AFTER),
        organization_id=organization_id,
    ).update(scheduled_at=now)
    if not claimed:
        return False
    try:
        score_contacts.apply_async(
            args=(organization_id,), kwargs={"pending": True}, countdown=settings.ML_RESCORE_DEBOUNCE_SECONDS
        )
    except Exception:
        # Nothing was queued: release the claim so the next request (or pending_scoring_sweep) tries again.
        ScoringSchedule.objects.filter(organization_id=organization_id).update(scheduled_at=None)
        raise
    return True


def pending_scoring_sweep() -> int:
    """The outbox sweep of scoring requests (beat: ml.beat.scoring_sweep_schedule_ensure). PendingScoring rows
    are the outbox: an organisation with requests waiting whose debounced task was never queued (the broker was
    down: the claim was released) or was lost (claimed over SCORING_SCHEDULE_LOST_AFTER ago) gets one now,
    instead of waiting for its next change. Returns the number of tasks queued."""
    queued = 0
    for organization_id in PendingScoring.objects.order_by().values_list("organization_id", flat=True).distinct():
        try:
            queued += _scoring_task_claim_and_enqueue(organization_id=organization_id)
        except Exception as exc:  # noqa: BLE001 - the broker is still down: the next sweep tries again
            logger.warning("scoring sweep: broker unavailable, pending scoring left for the next sweep: %s", exc)
            break
    return queued


@dataclass(frozen=True)
class PendingScoringTake:
    all_open_leads: bool
    contact_ids: list[int]

    @property
    def empty(self) -> bool:
        return not self.all_open_leads and not self.contact_ids


def pending_scoring_take(*, organization_id: int) -> PendingScoringTake:
    """Atomically remove and return what is waiting to be scored, and let the next request queue a task.
    A second (duplicate or redelivered) task gets an empty take."""
    with transaction.atomic():
        # Clearing the flag in the same transaction as the delete: a request committed after this take
        # finds the flag clear (its claim waits on this row's lock until we commit) and queues anew.
        ScoringSchedule.objects.filter(organization_id=organization_id).update(scheduled_at=None)
        rows = list(
            PendingScoring.objects.select_for_update()
            .filter(organization_id=organization_id)
            .values_list("pk", "contact_id")
        )
        PendingScoring.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    ids = sorted({contact_id for _, contact_id in rows if contact_id is not None})
    if any(contact_id is None for _, contact_id in rows):
        return PendingScoringTake(all_open_leads=True, contact_ids=[])
    return PendingScoringTake(all_open_leads=False, contact_ids=ids)


def pending_scoring_run(*, organization_id: int) -> ScoringResult | None:
    """Score everything pending for the organisation (the debounced task's body); None when nothing was.
    Raises NoChampionModel like contacts_score (the taken requests are dropped: there is nothing to score
    with, and a new champion rescores every open lead anyway)."""
    take = pending_scoring_take(organization_id=organization_id)
    if take.empty:
        return None
    # The take is committed: a dropped connection is retried here, or the taken requests would be lost.
    return db_call_retried(
        lambda: contacts_score(
            organization_id=organization_id,
            contact_ids=None if take.all_open_leads else take.contact_ids,
            trigger=ScoringRun.Trigger.PENDING,
        ),
        attempts=settings.ML_SCORING_DB_ATTEMPTS,
        what="pending lead scoring",
    )


def _scoring_version(*, organization_id: int, model_version_id: int | None) -> ModelVersion:
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id, organization_id=organization_id).first()
        if version is None:
            raise ValidationError({"model_version_id": "No such model version in this organization."})
        if version.task != Task.LEAD_CONVERSION:
            raise ValidationError({"model_version_id": "This model does not score leads."})
        return version
    champion = model_version_champion_get(organization_id=organization_id, task=Task.LEAD_CONVERSION)
    if champion is None and settings.ML_POOLED_FALLBACK:
        champion = model_version_pooled_champion_get(task=Task.LEAD_CONVERSION)
    if champion is None:
        raise NoChampionModel({"model_version_id": "This organization has no lead-scoring model yet: train one."})
    return champion


def _predictions_write(
    *,
    organization_id: int,
    model_version: ModelVersion,
    contact_ids: list[int],
    probabilities: np.ndarray,
    factors: list[list[dict[str, Any]]],
    served: ServedScores | None = None,
) -> list[int]:
    task = model_version.task
    if served is None:
        served = ServedScores(
            probabilities=np.asarray(probabilities),
            model_probabilities=np.asarray(probabilities),
            sources=[Prediction.Source.MODEL] * len(contact_ids),
            notes=[""] * len(contact_ids),
        )
    with transaction.atomic():
        # Lock the contacts (id order, so concurrent scorings cannot deadlock): the second scoring then sees
        # the first one's rows and retires them instead of colliding on "one current per contact".
        list(Contact.objects.select_for_update().filter(id__in=contact_ids).order_by("id").values_list("id"))
        Prediction.objects.filter(contact_id__in=contact_ids, task=task, is_current=True).update(is_current=False)
        created = Prediction.objects.bulk_create(
            [
                Prediction(
                    organization_id=organization_id,
                    model_version=model_version,
                    task=task,
                    contact_id=contact_id,
                    probability=float(probability),
                    score=int(round(float(probability) * 100)),
                    top_factors=top,
                    is_current=True,
                    source=source,
                    model_probability=float(own),
                    note=note,
                )
                for contact_id, probability, own, source, note, top in zip(
                    contact_ids,
                    served.probabilities,
                    served.model_probabilities,
                    served.sources,
                    served.notes,
                    factors,
                    strict=True,
                )
            ],
            batch_size=1000,
        )
    if any(p.pk is None for p in created):  # backends without RETURNING: read the ids back
        current = Prediction.objects.filter(contact_id__in=contact_ids, task=task, is_current=True)
        return list(current.values_list("id", flat=True))
    return [p.pk for p in created]


def _histogram(scores: np.ndarray) -> dict[str, int]:
    buckets = np.clip(scores // 10, 0, 9).astype(int)
    counts = np.bincount(buckets, minlength=10) if len(scores) else np.zeros(10, dtype=int)
    return {(f"{10 * b}-{10 * b + 9}" if b < 9 else "90-100"): int(counts[b]) for b in range(10)}
