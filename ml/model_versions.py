"""Model versions: register a trained family, decide with the gate, promote, roll back. Django side.

One module owns a ModelVersion's life: `model_version_register` numbers it (under a lock on the
organisation, so two trainings never share a number or a file), writes its artifact (a Transformer
checkpoint or a baseline artifact) with the list of groups it trained on beside it, stores its metrics and
the gate's decision, and promotes it when the gate says so. `champion_evidence_build` re-scores the current
champion on the candidate's held-out rows it never trained on, so the gate compares both on the same rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ml.engine.gate import ChampionEvidence, FamilyChoice, champion_decide
from ml.models import ModelVersion
from salesai.core.models import Organization
from salesai.core.services import audit_log_record

logger = logging.getLogger(__name__)

TRAINED_GROUPS_SUFFIX = ".trained-groups.json"


# --- trained groups: what a version saw, so a later gate can avoid those rows -------------------------------
def trained_groups_write(*, artifact: Path, groups: np.ndarray) -> None:
    path = artifact.with_name(artifact.name + TRAINED_GROUPS_SUFFIX)
    path.write_text(json.dumps(sorted({int(g) for g in np.asarray(groups).tolist()})))


def trained_groups_read(*, model_version: ModelVersion) -> set[int] | None:
    """The group ids (contacts, accounts) a version trained or was calibrated on; None when unknown."""
    from ml.engine.checkpoints import CheckpointError
    from ml.registry import artifact_absolute_path

    try:
        artifact = artifact_absolute_path(model_version.artifact_path)
        return set(json.loads(artifact.with_name(artifact.name + TRAINED_GROUPS_SUFFIX).read_text()))
    except (OSError, ValueError, CheckpointError):
        return None


def champion_evidence_build(
    *,
    champion: ModelVersion | None,
    groups: np.ndarray,
    labels: np.ndarray,
    test_rows: np.ndarray,
    candidate_test_probabilities: np.ndarray,
    champion_probabilities: Callable[[ModelVersion, np.ndarray], np.ndarray],
) -> ChampionEvidence | None:
    """The champion's stored metrics, plus its probabilities on the candidate's test rows whose groups it
    never saw (when it recorded them and its artifact still loads)."""
    if champion is None:
        return None
    evidence = ChampionEvidence(model_version_id=champion.id, metrics=champion.metrics or {})
    seen = trained_groups_read(model_version=champion)
    if seen is None:
        return evidence
    fresh = np.array([int(g) not in seen for g in np.asarray(groups)[test_rows]], dtype=bool)
    rows = np.asarray(test_rows)[fresh]
    if not len(rows):
        return evidence
    try:
        scores = champion_probabilities(champion, rows)
    except Exception as exc:  # an old or broken champion must not stop a new model from registering
        logger.warning("champion %s could not be re-scored for the gate: %s", champion.pk, exc)
        return evidence
    return ChampionEvidence(
        model_version_id=champion.id,
        metrics=champion.metrics or {},
        labels=np.asarray(labels)[rows],
        champion_probabilities=np.asarray(scores),
        candidate_probabilities=np.asarray(candidate_test_probabilities)[fresh],
    )


def model_version_gate_decide(
    *, choice: FamilyChoice, candidate_metrics: dict[str, Any], champion: ChampionEvidence | None
) -> dict[str, Any]:
    """The gate's decision (ml.engine.gate) with this deployment's settings; stored in `metrics["gate"]`."""
    return champion_decide(
        choice=choice,
        candidate_metrics=candidate_metrics,
        champion=champion,
        margin=float(settings.ML_GATE_AUC_MARGIN),
    ).to_dict()


# --- registration -------------------------------------------------------------------------------------------
def model_version_register(
    *,
    organization: Organization | None,
    task: str,
    architecture: str,
    artifact_relative: Callable[[int], str],
    artifact_write: Callable[[Path, dict[str, Any]], str],
    trained_groups: np.ndarray,
    metrics: dict[str, Any],
    feature_schema: dict[str, Any],
    trained_rows: int,
    decide: Callable[[ModelVersion | None], dict[str, Any]],
    training_run_id: int | None = None,
) -> ModelVersion:
    """Number, write and record a candidate, let `decide(champion)` give the gate's decision, promote when it
    says so. All in one transaction: an interrupted registration leaves no row (a written file without a row is
    overwritten by the next attempt at that number)."""
    from ml.registry import artifact_absolute_path

    scope = ModelVersion.objects.filter(task=task, organization=organization)
    with transaction.atomic():
        if organization is not None:
            # Lock the organisation row so two trainings cannot claim the same version number (or file).
            Organization.objects.select_for_update().get(pk=organization.pk)
        version = (scope.aggregate(v=Max("version"))["v"] or 0) + 1
        relative = artifact_relative(version)
        path = artifact_absolute_path(relative)
        sha256 = artifact_write(
            path,
            {
                "organization": getattr(organization, "slug", None),
                "version": version,
                "training_run_id": training_run_id,
            },
        )
        trained_groups_write(artifact=path, groups=trained_groups)
        # The champion is read under the organisation lock: a concurrent training cannot slip in between.
        champion = scope.filter(status=ModelVersion.Status.CHAMPION).first()
        gate = decide(champion)
        metrics = {**metrics, "gate": gate}
        model_version = ModelVersion.objects.create(
            organization=organization,
            task=task,
            version=version,
            status=ModelVersion.Status.CANDIDATE,
            architecture=architecture,
            training_run_id=training_run_id,
            metrics=metrics,
            feature_schema=feature_schema,
            artifact_path=relative,
            artifact_sha256=sha256,
            trained_rows=trained_rows,
        )
        if gate["promote"]:
            model_version = model_version_promote(model_version_id=model_version.id)
    return model_version


# --- champion management ------------------------------------------------------------------------------------
def model_version_promote(
    *, model_version_id: int, actor_id: int | None = None, _action: str = "model_version.promote"
) -> ModelVersion:
    """Make this version the champion of its task and retire the previous one, atomically. Promoting an
    older (retired) version is the one-click rollback. Audited: `actor_id` is who asked (None: the gate)."""
    with transaction.atomic():
        target = ModelVersion.objects.select_for_update().get(pk=model_version_id)
        if target.status == ModelVersion.Status.CHAMPION:
            return target
        audit_log_record(
            action=_action,
            organization_id=target.organization_id,
            actor_id=actor_id,
            target_type="ml.modelversion",
            target_id=target.pk,
            detail={"task": target.task, "version": target.version},
        )
        now = timezone.now()
        # Retire first: the database allows one champion per (organisation, task) at any instant.
        ModelVersion.objects.filter(
            organization_id=target.organization_id, task=target.task, status=ModelVersion.Status.CHAMPION
        ).update(status=ModelVersion.Status.RETIRED)
        target.status = ModelVersion.Status.CHAMPION
        target.promoted_at = now
        target.save(update_fields=["status", "promoted_at"])
    return target


def model_version_rollback(*, organization_id: int, task: str, actor_id: int | None = None) -> ModelVersion:
    """Promote the previous champion again: the retired version promoted most recently. The current
    champion is retired (and becomes the next rollback target, so two rollbacks undo each other)."""
    with transaction.atomic():
        # Lock the organisation: two rollbacks at once must not pick the same target twice.
        Organization.objects.select_for_update().filter(pk=organization_id).first()
        previous = (
            ModelVersion.objects.filter(
                organization_id=organization_id,
                task=task,
                status=ModelVersion.Status.RETIRED,
                promoted_at__isnull=False,
            )
            .order_by("-promoted_at", "-version")
            .first()
        )
        if previous is None:
            raise ValidationError({"model_version": "There is no previous champion to roll back to."})
        return model_version_promote(model_version_id=previous.id, actor_id=actor_id, _action="model_version.rollback")
