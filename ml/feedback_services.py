"""Reps' feedback on predictions: agree, disagree, or override with their own probability.

Stored feedback is read back by the next training run (ml.training_services via ml.selectors) and standing
overrides are served in place of the model's score (ml.overrides).
"""

from __future__ import annotations

import numpy as np
from django.core.exceptions import ValidationError

from ml.models import Feedback, Prediction


def feedback_create(
    *,
    prediction_id: int,
    user_id: int,
    verdict: str,
    override_value: float | None = None,
    reason: str = "",
) -> Feedback:
    """A rep's verdict on a prediction. An override must carry the rep's own probability in [0, 1]; agree /
    disagree must not carry one."""
    errors: dict[str, str] = {}
    if verdict not in Feedback.Verdict.values:
        errors["verdict"] = f"Must be one of: {', '.join(Feedback.Verdict.values)}."
    value: float | None = None
    if override_value is not None:
        try:
            value = float(override_value)
        except (TypeError, ValueError):
            errors["override_value"] = "Must be a number between 0 and 1."
        else:
            if not np.isfinite(value) or not 0.0 <= value <= 1.0:
                errors["override_value"] = "Must be between 0 and 1."
    if verdict == Feedback.Verdict.OVERRIDE and override_value is None:
        errors["override_value"] = "An override needs your probability (between 0 and 1)."
    elif verdict in (Feedback.Verdict.AGREE, Feedback.Verdict.DISAGREE) and override_value is not None:
        errors["override_value"] = "Only an override carries a value."
    prediction = Prediction.objects.filter(pk=prediction_id).only("id", "organization_id").first()
    if prediction is None:
        errors["prediction_id"] = "No such prediction."
    if errors:
        raise ValidationError(errors)
    return Feedback.objects.create(
        organization_id=prediction.organization_id,
        prediction=prediction,
        user_id=user_id,
        verdict=verdict,
        override_value=value,
        reason=(reason or "").strip(),
    )
