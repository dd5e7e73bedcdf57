"""Scoring runs: one row per run of `ml.scoring_services.contacts_score`, with the drift of what it scored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ml.engine.drift import DriftAccumulator
from ml.models import ModelVersion, ScoringRun

TRIGGERS = tuple(ScoringRun.Trigger.values)


def scoring_drift_accumulator(*, model_version: ModelVersion) -> DriftAccumulator:
    """Counts the rows a run scores into the bins of the model's training reference (none: no PSI)."""
    return DriftAccumulator(reference=(model_version.metrics or {}).get("reference_distributions"))


def scoring_run_record(
    *,
    organization_id: int,
    model_version: ModelVersion,
    trigger: str,
    started_at: datetime,
    scored: int,
    overrides_kept: int,
    score_histogram: dict[str, int],
    mean_probability: float | None,
    drift: DriftAccumulator,
) -> ScoringRun:
    """Store a finished run (a run that failed midway stores nothing: its predictions were not all written)."""
    report = drift.report()
    fields: dict[str, Any] = {
        "score_psi": report.score_psi,
        "feature_psi": report.feature_psi,
        "drift": report.band,
    }
    return ScoringRun.objects.create(
        organization_id=organization_id,
        model_version=model_version,
        task=model_version.task,
        trigger=trigger if trigger in TRIGGERS else ScoringRun.Trigger.CONTACTS,
        started_at=started_at,
        finished_at=timezone.now(),
        scored=scored,
        overrides_kept=overrides_kept,
        score_histogram=score_histogram,
        mean_probability=mean_probability,
        **fields,
    )
