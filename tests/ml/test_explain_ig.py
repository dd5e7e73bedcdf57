"""Integrated-gradients reasons on a trained model: complete, and faithful (removing the top reason lowers the
score); the text factor names the sentence that moved the score."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from ml.engine.calibration import Calibrator
from ml.engine.explain import (
    MIN_WEIGHT,
    IntegratedGradientsExplainer,
    OcclusionExplainer,
    explainer_default,
    factor_fields,
    predictions_explain,
    sentence_spans,
    text_factors_name_sentences,
)
from ml.engine.inference import ScoringModel, predict_logits
from ml.engine.schema import ColumnSpec, EncodedTable, TablePreprocessor, TableSchema
from ml.engine.training import TrainingParams, train_tabular_model
from ml.features.lead import lead_schema, lead_training_frame
from ml.features.text import LEAD_TEXT_COLUMNS, TextEvidence
from tests.ml.crm_data import synthetic_org_create

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 2, "epochs": 8, "batch_size": 64, "seed": 1}


@pytest.fixture
def crm_model() -> tuple[ScoringModel, pd.DataFrame]:
    """A small Transformer (with text tokens) trained on the synthetic CRM; its newest-snapshot rows."""
    organization = synthetic_org_create(contacts=300, seed=5)
    frame, labels = lead_training_frame(organization_id=organization.id, text=True)
    params = TrainingParams(**TINY)
    trained = train_tabular_model(frame=frame, labels=labels, schema=lead_schema(frame), params=params)
    assert trained.preprocessor.text_token_columns == [spec.name for spec in LEAD_TEXT_COLUMNS]
    latest = frame[frame["as_of"] == frame["as_of"].max()]
    return trained.scoring_model(), latest


def _at_baseline(preprocessor: TablePreprocessor, encoded: EncodedTable, rows: np.ndarray, fields: list[str]) -> None:
    """In place: these rows' `fields` take the typical row's value (text: nothing written)."""
    baseline = preprocessor.baseline()
    for name in fields:
        numeric, categorical = preprocessor.field_positions(name)
        encoded.numeric[np.ix_(rows, numeric)] = baseline.numeric[0, numeric]
        encoded.categorical[np.ix_(rows, categorical)] = baseline.categorical[0, categorical]
        text = preprocessor.text_positions(name)
        if text:
            encoded.text[np.ix_(rows, text)] = 0.0


def _copy(encoded: EncodedTable) -> EncodedTable:
    text = encoded.text.copy()
    return EncodedTable(numeric=encoded.numeric.copy(), categorical=encoded.categorical.copy(), text=text)


@pytest.mark.django_db
def test_integrated_gradients_are_complete(crm_model):
    model, frame = crm_model
    encoded = model.encode(frame)
    logits = predict_logits(model.net, encoded, device=model.device, mixed_precision=False)
    baseline = predict_logits(model.net, model.preprocessor.baseline(), device=model.device, mixed_precision=False)
    gap = logits - baseline[0]
    assert np.abs(gap).max() > 0.5  # the rows really differ from the typical one: the check has teeth

    explainer = IntegratedGradientsExplainer()
    columns, delta = explainer.column_attributions(model, encoded, batch_size=256)
    fields = explainer.field_attributions(model, encoded, batch_size=256)
    assert columns[2].shape == (len(frame), 2)  # both text tokens are attributed
    np.testing.assert_allclose(fields.sum(axis=1), columns[0].sum(1) + columns[1].sum(1) + columns[2].sum(1), atol=1e-4)
    # Completeness, checked against the net itself, not only captum's own delta. The default step count
    # trades a few hundredths of a logit (the head's ReLU kink limits the quadrature) for scoring speed...
    error = np.abs(fields.sum(axis=1) - gap)
    assert error.mean() < 0.03 and error.max() < 0.1 + 0.05 * np.abs(gap).max()
    np.testing.assert_allclose(delta, fields.sum(axis=1) - gap, atol=1e-3)
    # ...and the error shrinks towards exact completeness as the integral gets more steps.
    fine = IntegratedGradientsExplainer(n_steps=128).field_attributions(model, encoded, batch_size=256)
    assert np.abs(fine.sum(axis=1) - gap).max() < 0.03


@pytest.mark.django_db
def test_removing_the_top_positive_factor_lowers_the_score_more_than_a_random_one(crm_model):
    model, frame = crm_model
    preprocessor = model.preprocessor
    encoded = model.encode(frame)
    attributions = IntegratedGradientsExplainer().field_attributions(model, encoded, batch_size=256)
    groups = factor_fields(preprocessor)
    members = [[preprocessor.fields.index(name) for name in names] for names in groups.values()]
    weights = np.stack([attributions[:, m].sum(axis=1) for m in members], axis=1)
    rows = np.flatnonzero(weights.max(axis=1) > MIN_WEIGHT)
    assert len(rows) > 0.5 * len(frame)
    before = model.probabilities(encoded)[rows]

    removed_top = _copy(encoded)
    removed_random = _copy(encoded)
    rng = np.random.default_rng(0)
    names = list(groups.values())
    for row in rows:
        _at_baseline(preprocessor, removed_top, np.array([row]), names[int(weights[row].argmax())])
        _at_baseline(preprocessor, removed_random, np.array([row]), names[int(rng.integers(len(names)))])
    top_drop = before - model.probabilities(removed_top)[rows]
    random_drop = before - model.probabilities(removed_random)[rows]

    assert (top_drop > 0).mean() >= 0.9, (top_drop > 0).mean()
    assert top_drop.mean() > random_drop.mean() + 0.005


@pytest.mark.django_db
def test_scoring_reasons_default_to_integrated_gradients_and_match_occlusion_in_sign(crm_model):
    model, frame = crm_model
    assert isinstance(explainer_default(model), IntegratedGradientsExplainer)
    encoded = model.encode(frame)
    gradients = IntegratedGradientsExplainer().field_attributions(model, encoded, batch_size=256)
    occlusion = OcclusionExplainer().field_attributions(model, encoded, batch_size=256)
    strong = np.abs(gradients) > 0.2
    assert strong.sum() > 20
    assert (np.sign(gradients[strong]) == np.sign(occlusion[strong])).mean() > 0.85
    factors = predictions_explain(model=model, frame=frame.iloc[:20], batch_size=256)
    assert any(factors)


# --- the sentence behind the text factor (a net whose answer is known) -------------------------------------
KEYWORDS = {"budget": 0, "demo": 1}


def _embed(texts: list[str]) -> np.ndarray:
    """A stand-in encoder: one axis per keyword present, plus a small common axis; blank -> zeros."""
    out = np.zeros((len(texts), 3), dtype=np.float32)
    for row, text in enumerate(texts):
        if text.strip():
            out[row, 2] = 0.1
            for word, axis in KEYWORDS.items():
                out[row, axis] += float(word in text.lower())
    return out


class KeywordEvidence(TextEvidence):
    def embed(self, texts: list[str]) -> np.ndarray:
        return _embed(texts)


class TextNet(torch.nn.Module):
    """logit = 3 * budget - 2 * demo, read from the mean text token; numbers ignored."""

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return 3 * text[:, 0, 0] - 2 * text[:, 0, 1]


def _text_model(documents: list[list[tuple[str, str]]]) -> tuple[ScoringModel, pd.DataFrame, KeywordEvidence]:
    schema = TableSchema(columns=(ColumnSpec("x", "numeric", "X"), *LEAD_TEXT_COLUMNS))
    evidence = KeywordEvidence(documents=documents)
    rows: list[dict[str, Any]] = []
    for index, docs in enumerate(documents):
        vectors = _embed([text for _, text in docs])
        rows.append({"x": float(index), **evidence.columns(vectors[np.any(vectors != 0, axis=1)])})
    frame = pd.DataFrame(rows).astype(object)
    preprocessor = TablePreprocessor(schema=schema, min_frequency=1).fit(frame)
    return ScoringModel(net=TextNet(), preprocessor=preprocessor, calibrator=Calibrator()), frame, evidence


def test_sentence_spans_split_subject_lines_and_sentences():
    text = "Re: pricing\nBudget approved. Wants a demo!  "
    assert [text[a:b].strip() for a, b in sentence_spans(text)] == ["Re: pricing", "Budget approved.", "Wants a demo!"]


def test_text_factor_names_the_sentence_that_moved_the_score_each_way():
    documents = [
        [("Email", "Thanks for the call."), ("Note", "Budget approved for Q3. Wants a demo first.")],
        [],  # nothing written: no text factor to name
    ]
    model, frame, evidence = _text_model(documents)
    encoded = model.encode(frame)
    factors = [
        [
            {"feature": "text", "label": "Recent activity text", "value": "", "direction": "+", "weight": 0.5},
            {"feature": "text", "label": "Recent activity text", "value": "", "direction": "-", "weight": -0.5},
        ],
        [{"feature": "x", "label": "X = 1", "value": "1", "direction": "+", "weight": 0.1}],
    ]
    text_factors_name_sentences(model=model, encoded=encoded, factors=factors, evidence=evidence)

    positive, negative = factors[0]
    assert positive["label"] == 'Note: "Budget approved for Q3."' and positive["value"] == "Budget approved for Q3."
    assert negative["label"] == 'Note: "Wants a demo first."'
    # Removing the budget sentence takes the mean token's budget axis from 1/2 to 0: logit falls by 1.5.
    assert positive["sentence_weight"] == pytest.approx(1.5, abs=1e-4)
    assert negative["sentence_weight"] == pytest.approx(-1.0, abs=1e-4)
    assert factors[1] == [{"feature": "x", "label": "X = 1", "value": "1", "direction": "+", "weight": 0.1}]


def test_predictions_explain_groups_text_columns_into_one_named_factor():
    documents = [[("Note", "Budget approved.")], [("Call", "Asked for a demo.")]]
    model, frame, evidence = _text_model(documents)
    factors = predictions_explain(model=model, frame=frame, explainer=OcclusionExplainer(), text_evidence=evidence)
    assert factors[0] == [
        {
            "feature": "text",
            "label": 'Note: "Budget approved."',
            "value": "Budget approved.",
            "direction": "+",
            "weight": pytest.approx(3.0, abs=1e-4),
            "sentence_weight": pytest.approx(3.0, abs=1e-4),
        }
    ]
    assert [(f["feature"], f["direction"], f["label"]) for f in factors[1]] == [
        ("text", "-", 'Call: "Asked for a demo."')
    ]


def test_integrated_gradients_on_a_text_free_model_match_its_fields():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=400), "source": rng.choice(["a", "b", "c"], 400).astype(object)})
    labels = (frame["signal"] + 1.0 * (frame["source"] == "a") + rng.normal(0, 0.5, 400) > 0.5).astype(int)
    schema = TableSchema(
        columns=(ColumnSpec("signal", "numeric", "Signal"), ColumnSpec("source", "categorical", "Source"))
    )
    trained = train_tabular_model(frame=frame, labels=labels, schema=schema, params=TrainingParams(**TINY))
    model = trained.scoring_model()
    encoded = model.encode(frame)
    assert not encoded.has_text
    attributions = IntegratedGradientsExplainer(n_steps=64).field_attributions(model, encoded, batch_size=512)
    gap = model.logits(encoded) - model.logits(model.preprocessor.baseline())[0]
    np.testing.assert_allclose(attributions.sum(axis=1), gap, atol=0.02 + 0.02 * np.abs(gap).max())
    # The signal's attribution rises with the signal: the reason tracks the input.
    assert np.corrcoef(attributions[:, 0], encoded.numeric[:, 0])[0, 1] > 0.7
    factors = predictions_explain(model=model, frame=frame.iloc[:5])
    assert all(f["label"].startswith(("Signal = ", "Source = ")) for row in factors for f in row)
