from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ml.engine.calibration import Calibrator
from ml.engine.explain import OcclusionExplainer, explainer_get, factors_top, predictions_explain, value_text
from ml.engine.inference import ScoringModel
from ml.engine.schema import ColumnSpec, TablePreprocessor, TableSchema

SCHEMA = TableSchema(
    columns=(
        ColumnSpec("inbound_emails_30d", "numeric", "Inbound emails (30 days)"),
        ColumnSpec("days_since_created", "numeric", "Days since contact was created"),
        ColumnSpec("lead_source", "categorical", "Lead source"),
    )
)


class LinearNet(nn.Module):
    """logit = 2 * emails - 1 * days + (+1.5 if source is Referral): attributions are known exactly."""

    def __init__(self, referral_index: int) -> None:
        super().__init__()
        self.referral_index = referral_index

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        numeric = torch.nan_to_num(numeric)
        return 2 * numeric[:, 0] - numeric[:, 1] + 1.5 * (categorical[:, 0] == self.referral_index).float()


def _model() -> tuple[ScoringModel, pd.DataFrame]:
    training = pd.DataFrame(
        {
            "inbound_emails_30d": [0.0, 1.0, 2.0, 3.0, 4.0] * 4,
            "days_since_created": [10.0, 20.0, 30.0, 40.0, 50.0] * 4,
            "lead_source": (["Web"] * 3 + ["Referral", "Event"]) * 4,
        }
    )
    preprocessor = TablePreprocessor(schema=SCHEMA, min_frequency=1).fit(training)
    referral = preprocessor.categorical[0].vocabulary.index("Referral") + 2
    model = ScoringModel(net=LinearNet(referral), preprocessor=preprocessor, calibrator=Calibrator())
    rows = pd.DataFrame(
        {"inbound_emails_30d": [4.0, 2.0], "days_since_created": [50.0, 30.0], "lead_source": ["Referral", "Web"]},
        index=[101, 102],
    )
    return model, rows


def test_occlusion_recovers_each_fields_contribution_against_the_typical_value():
    model, rows = _model()
    attributions = OcclusionExplainer().field_attributions(model, model.encode(rows), batch_size=4)
    emails, days = model.preprocessor.numeric
    # Row 0: 4 emails vs the median 2 -> +2 * (4-2)/scale; 50 days vs median 30 -> -(50-30)/scale; Referral vs Web.
    assert attributions[0, 0] == pytest.approx(2 * (4 - emails.center) / emails.scale, rel=1e-5)
    assert attributions[0, 1] == pytest.approx(-(50 - days.center) / days.scale, rel=1e-5)
    assert attributions[0, 2] == pytest.approx(1.5)
    assert np.all(attributions[1] == 0)  # row 1 is the typical lead in every field


def test_top_factors_name_original_fields_in_plain_words():
    model, rows = _model()
    factors = predictions_explain(model=model, frame=rows, k=3)
    first = factors[0]
    assert [f["direction"] for f in first] == ["+", "+", "-"]
    assert first[0] == {
        "feature": "inbound_emails_30d",
        "label": "Inbound emails (30 days) = 4",
        "value": "4",
        "direction": "+",
        "weight": pytest.approx(first[0]["weight"]),
    }
    assert first[1]["label"] == "Lead source = Referral"
    assert first[2]["label"] == "Days since contact was created = 50" and first[2]["weight"] < 0
    assert factors[1] == []  # nothing about the typical lead stands out


def test_factors_keep_at_most_k_per_direction():
    model, rows = _model()
    attributions = np.array([[0.5, 0.4, 0.3], [-0.5, -0.4, -0.3]])
    factors = factors_top(frame=rows, attributions=attributions, preprocessor=model.preprocessor, k=2)
    assert [f["feature"] for f in factors[0]] == ["inbound_emails_30d", "days_since_created"]
    assert [f["direction"] for f in factors[1]] == ["-", "-"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "unknown"),
        (float("nan"), "unknown"),
        (4.0, "4"),
        (12000.0, "12,000"),
        (45.25, "45.2"),
        ("Referral", "Referral"),
        ("", "unknown"),
        (datetime(2025, 1, 31, 10, tzinfo=UTC), "2025-01-31"),
        (True, "yes"),
    ],
)
def test_value_text(value, text):
    assert value_text(value) == text


def test_unknown_explainer_is_an_error():
    assert explainer_get("occlusion").name == "occlusion"
    with pytest.raises(ValueError):
        explainer_get("shap")
