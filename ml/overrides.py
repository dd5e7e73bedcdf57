"""Sticky overrides: what a scoring run serves when a rep has overridden a contact's score.

A rep's override stands until new evidence arrives (a newer activity, a deal created or changed:
`ml.selectors.overrides_standing_get`). The contact's own CRM modification time is not evidence: our score
writeback bumps it. While it stands, rescoring serves the rep's
probability (source "override") and keeps the model's own beside it (`Prediction.model_probability`); once
evidence is newer than the override, the model's score is served again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.models import Prediction, Task
from ml.selectors import overrides_standing_get

NOTE_LIMIT = 300  # Prediction.note's max_length


@dataclass(frozen=True)
class ServedScores:
    probabilities: np.ndarray  # what is served (override or model)
    model_probabilities: np.ndarray  # what the model said
    sources: list[str]
    notes: list[str]

    @property
    def overrides(self) -> int:
        return sum(source == Prediction.Source.OVERRIDE for source in self.sources)


def scores_serve(
    *,
    contact_ids: list[int],
    probabilities: np.ndarray,
    task: str = Task.LEAD_CONVERSION,
    source: str = Prediction.Source.MODEL,
    note: str = "",
) -> ServedScores:
    """The model's `probabilities` for `contact_ids`, with every standing override served instead."""
    model = np.asarray(probabilities, dtype=np.float64)
    served = model.copy()
    sources = [str(source)] * len(contact_ids)
    notes = [note] * len(contact_ids)
    standing = overrides_standing_get(contact_ids=[int(i) for i in contact_ids], task=task)
    for row, contact_id in enumerate(contact_ids):
        override = standing.get(int(contact_id))
        if override is None:
            continue
        served[row] = float(override.override_value)
        sources[row] = Prediction.Source.OVERRIDE
        who = override.user.get_username() if override.user is not None else "a rep"
        text = f"Override by {who} on {override.created_at:%Y-%m-%d} (model: {model[row]:.2f})"
        if override.reason:
            text += f": {override.reason}"
        notes[row] = text[:NOTE_LIMIT]
    return ServedScores(probabilities=served, model_probabilities=model, sources=sources, notes=notes)
