"""Why a lead got its score: per-prediction top factors in plain words, mapped to ORIGINAL fields.

Both explainers compare a row with the preprocessor's typical row (training median, most frequent category,
no text) and return (rows, fields) logit contributions:
- `IntegratedGradientsExplainer` (the default for the FT-Transformer): captum's integrated gradients on the
  per-column token parts (`FTTransformer.embed` / `forward_parts`), from the typical row's parts to the
  row's, summed per original column. Complete by construction: a row's contributions add up to
  logit(row) - logit(typical row), up to the integral's numerical error. All rows of a chunk go through
  one batched backward pass per chunk, so it costs about `n_steps` forward+backward passes per row.
- `OcclusionExplainer`: swap each field for its typical value and measure the logit drop; works with any net.

Text: the text columns of one `group` (the lead model's mean and latest activity embeddings) are one factor.
When the caller passes `TextEvidence` (the activity texts behind the columns), the factor names the sentence
that moved the score most in the factor's direction: each sentence is removed in turn, the text columns are
rebuilt from the re-embedded texts and the row is re-scored (leave-one-sentence-out).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from ml.engine.inference import ScoringModel, predict_logits
from ml.engine.schema import EncodedTable, TablePreprocessor

TOP_K = 3
MIN_WEIGHT = 1e-3  # logit change below this is noise, not a reason
# Gauss-Legendre nodes: the cost of a reason is ~IG_STEPS forward+backward passes per row. The head's ReLU
# kink limits the quadrature: at 16 the sum of a row's attributions is within a few hundredths of a logit of
# logit(row) - logit(typical row) (tests/ml/test_explain_ig.py); more steps converge to exact.
IG_STEPS = 16
MAX_SENTENCES = 12  # per row, newest first: bounds the leave-one-sentence-out cost (each is one text to embed)
SENTENCE_MAX_CHARS = 200
_SENTENCE_END = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.M)


class TextEvidenceLike(Protocol):
    """What the sentence reasons need (ml.features.text.TextEvidence): per row the (kind, text) documents
    behind its text columns, an embedder, and the recipe from document embeddings to column values."""

    documents: list[list[tuple[str, str]]]

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def columns(self, vectors: np.ndarray) -> dict[str, np.ndarray | None]: ...


class Explainer(Protocol):
    name: str

    def field_attributions(self, model: ScoringModel, encoded: EncodedTable, *, batch_size: int) -> np.ndarray:
        """(rows, len(model.preprocessor.fields)) logit contributions; positive pushes towards the outcome."""
        ...


class OcclusionExplainer:
    name = "occlusion"

    def field_attributions(self, model: ScoringModel, encoded: EncodedTable, *, batch_size: int = 1024) -> np.ndarray:
        preprocessor = model.preprocessor
        fields = preprocessor.fields
        baseline = preprocessor.baseline()
        positions = [
            (*preprocessor.field_positions(name), preprocessor.text_positions(name) if encoded.has_text else [])
            for name in fields
        ]
        # Same precision for the original and the occluded rows, so differences are not rounding noise.
        original = predict_logits(model.net, encoded, device=model.device, batch_size=batch_size, mixed_precision=False)
        attributions = np.zeros((len(encoded), len(fields)), dtype=np.float32)
        rows_per_chunk = max(1, batch_size * 4 // max(len(fields), 1))
        for start in range(0, len(encoded), rows_per_chunk):
            chunk = encoded.take(slice(start, start + rows_per_chunk))
            numeric_parts, categorical_parts, text_parts, targets = [], [], [], []
            for field_index, (numeric_positions, categorical_positions, text_positions) in enumerate(positions):
                differs = np.zeros(len(chunk), dtype=bool)
                if numeric_positions:
                    values = chunk.numeric[:, numeric_positions]
                    differs |= np.any(values != baseline.numeric[0, numeric_positions], axis=1)
                if categorical_positions:
                    differs |= np.any(
                        chunk.categorical[:, categorical_positions] != baseline.categorical[0, categorical_positions],
                        axis=1,
                    )
                if text_positions:
                    differs |= np.any(chunk.text[:, text_positions] != 0, axis=(1, 2))  # baseline: no text
                rows = np.flatnonzero(differs)  # a field already at its typical value contributes exactly 0
                if not len(rows):
                    continue
                numeric = chunk.numeric[rows].copy()
                categorical = chunk.categorical[rows].copy()
                numeric[:, numeric_positions] = baseline.numeric[0, numeric_positions]
                categorical[:, categorical_positions] = baseline.categorical[0, categorical_positions]
                numeric_parts.append(numeric)
                categorical_parts.append(categorical)
                if chunk.has_text:
                    text = chunk.text[rows].copy()
                    text[:, text_positions] = 0.0
                    text_parts.append(text)
                targets.append((rows, field_index))
            if not targets:
                continue
            occluded = predict_logits(
                model.net,
                EncodedTable(
                    numeric=np.concatenate(numeric_parts),
                    categorical=np.concatenate(categorical_parts),
                    text=np.concatenate(text_parts) if text_parts else None,
                ),
                device=model.device,
                batch_size=batch_size,
                mixed_precision=False,
            )
            offset = 0
            for rows, field_index in targets:
                values = occluded[offset : offset + len(rows)]
                attributions[start + rows, field_index] = original[start + rows] - values
                offset += len(rows)
        return attributions


class IntegratedGradientsExplainer:
    name = "integrated_gradients"

    def __init__(self, *, n_steps: int = IG_STEPS, method: str = "gausslegendre") -> None:
        self.n_steps = n_steps
        self.method = method

    @staticmethod
    def supports(model: ScoringModel) -> bool:
        return hasattr(model.net, "embed") and hasattr(model.net, "forward_parts")

    def field_attributions(self, model: ScoringModel, encoded: EncodedTable, *, batch_size: int = 1024) -> np.ndarray:
        columns, _ = self.column_attributions(model, encoded, batch_size=batch_size)
        return _fields_from_columns(model.preprocessor, columns)

    def column_attributions(
        self, model: ScoringModel, encoded: EncodedTable, *, batch_size: int = 1024
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """Per input column ((rows, numeric), (rows, categorical), (rows, text)) and the convergence delta per
        row: sum of attributions - (logit(row) - logit(typical row))."""
        from captum.attr import IntegratedGradients  # heavy import, only when explaining

        if not self.supports(model):
            raise ValueError("integrated gradients needs a net with embed/forward_parts (FTTransformer)")
        net, device = model.net, model.device
        net.eval()
        rows = len(encoded)
        text_width = encoded.text.shape[1] if encoded.has_text else 0
        widths = (encoded.numeric.shape[1], encoded.categorical.shape[1], text_width)
        out = tuple(np.zeros((rows, width), dtype=np.float32) for width in widths)
        delta = np.zeros(rows, dtype=np.float32)
        if rows == 0:
            return out, delta
        with torch.no_grad():
            baseline = net.embed(*_net_inputs(model.preprocessor.baseline(), slice(0, 1), device))
        used = [i for i, part in enumerate(baseline) if part.shape[1] > 0]

        def forward(*selected: torch.Tensor) -> torch.Tensor:
            parts = [selected[0].new_zeros((selected[0].shape[0], 0, selected[0].shape[2]))] * 3
            for position, tensor in zip(used, selected, strict=True):
                parts[position] = tensor
            return net.forward_parts(*parts)

        integrated = IntegratedGradients(forward)
        # Each chunk is expanded n_steps times inside captum: keep that near a few scoring batches.
        chunk_rows = max(1, batch_size * 4 // self.n_steps)
        for start in range(0, rows, chunk_rows):
            stop = min(rows, start + chunk_rows)
            with torch.no_grad():
                parts = net.embed(*_net_inputs(encoded, slice(start, stop), device))
            attributions, chunk_delta = integrated.attribute(
                inputs=tuple(parts[i] for i in used),
                baselines=tuple(baseline[i] for i in used),
                n_steps=self.n_steps,
                method=self.method,
                return_convergence_delta=True,
            )
            for position, attribution in zip(used, attributions, strict=True):
                out[position][start:stop] = attribution.sum(dim=-1).detach().float().cpu().numpy()
            delta[start:stop] = chunk_delta.detach().float().cpu().numpy()
        return out, delta


def _net_inputs(encoded: EncodedTable, rows: slice, device: torch.device) -> tuple[torch.Tensor, ...]:
    inputs = [
        torch.from_numpy(np.ascontiguousarray(encoded.numeric[rows])).to(device),
        torch.from_numpy(np.ascontiguousarray(encoded.categorical[rows])).to(device),
    ]
    if encoded.has_text:
        inputs.append(torch.from_numpy(np.ascontiguousarray(encoded.text[rows])).to(device))
    return tuple(inputs)


def _fields_from_columns(
    preprocessor: TablePreprocessor, columns: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    numeric, categorical, text = columns
    fields = preprocessor.fields
    attributions = np.zeros((numeric.shape[0], len(fields)), dtype=np.float32)
    for index, name in enumerate(fields):
        numeric_positions, categorical_positions = preprocessor.field_positions(name)
        text_positions = preprocessor.text_positions(name) if text.shape[1] else []
        attributions[:, index] = (
            numeric[:, numeric_positions].sum(axis=1)
            + categorical[:, categorical_positions].sum(axis=1)
            + text[:, text_positions].sum(axis=1)
        )
    return attributions


EXPLAINERS: dict[str, Callable[[], Explainer]] = {
    "integrated_gradients": IntegratedGradientsExplainer,
    "occlusion": OcclusionExplainer,
}


def explainer_get(name: str = "occlusion") -> Explainer:
    if name not in EXPLAINERS:
        raise ValueError(f"unknown explainer {name!r}")
    return EXPLAINERS[name]()


def explainer_default(model: ScoringModel) -> Explainer:
    """Integrated gradients where the net exposes its token parts (the FT-Transformer), else occlusion."""
    return IntegratedGradientsExplainer() if IntegratedGradientsExplainer.supports(model) else OcclusionExplainer()


def predictions_explain(
    *,
    model: ScoringModel,
    frame: pd.DataFrame,
    encoded: EncodedTable | None = None,
    explainer: Explainer | None = None,
    k: int = TOP_K,
    batch_size: int = 1024,
    text_evidence: TextEvidenceLike | None = None,
) -> list[list[dict[str, Any]]]:
    """Top `k` positive then top `k` negative factors for every row of `frame` (default explainer:
    `explainer_default`). With `text_evidence`, a text factor names the sentence that moved the score most."""
    encoded = encoded if encoded is not None else model.encode(frame)
    explainer = explainer or explainer_default(model)
    attributions = explainer.field_attributions(model, encoded, batch_size=batch_size)
    factors = factors_top(frame=frame, attributions=attributions, preprocessor=model.preprocessor, k=k)
    if text_evidence is not None and encoded.has_text:
        text_factors_name_sentences(
            model=model, encoded=encoded, factors=factors, evidence=text_evidence, batch_size=batch_size
        )
    return factors


def factor_fields(preprocessor: TablePreprocessor) -> dict[str, list[str]]:
    """Explanation factor -> the fields it sums: every field alone, except text fields sharing a `group`."""
    groups: dict[str, list[str]] = {}
    for name in preprocessor.fields:
        spec = preprocessor.schema.column(name)
        groups.setdefault(spec.group if spec.kind == "text" and spec.group else name, []).append(name)
    return groups


def factors_top(
    *, frame: pd.DataFrame, attributions: np.ndarray, preprocessor: TablePreprocessor, k: int = TOP_K
) -> list[list[dict[str, Any]]]:
    fields = preprocessor.fields
    specs = {spec.name: spec for spec in preprocessor.schema.columns}
    groups = factor_fields(preprocessor)
    keys = list(groups)
    members = [[fields.index(name) for name in names] for names in groups.values()]
    weights_by_factor = np.stack([attributions[:, m].sum(axis=1) for m in members], axis=1) if members else attributions
    columns = {name: (frame[name].tolist() if name in frame.columns else [None] * len(frame)) for name in fields}
    explained = []
    for row, weights in enumerate(weights_by_factor):
        order = np.argsort(-weights, kind="stable")
        positive = [i for i in order if weights[i] > MIN_WEIGHT][:k]
        negative = [i for i in order[::-1] if weights[i] < -MIN_WEIGHT][:k]
        factors = []
        for index, direction in [(i, "+") for i in positive] + [(i, "-") for i in negative]:
            key, first = keys[index], specs[groups[keys[index]][0]]
            if first.kind == "text":
                value, label = "", first.display_label  # a vector has no words: the sentence comes later
            else:
                value = value_text(columns[key][row])
                label = f"{first.display_label} = {value}"
            factors.append(
                {
                    "feature": key,
                    "label": label,
                    "value": value,
                    "direction": direction,
                    "weight": round(float(weights[index]), 4),
                }
            )
        explained.append(factors)
    return explained


# --- the sentence behind a text factor ----------------------------------------------------------------------
def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, stop) of each sentence: split at . ! ? and line breaks; blank pieces skipped."""
    return [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text) if m.group().strip()]


def _without(text: str, start: int, stop: int) -> str:
    """The text minus one sentence, tidied the way a person would have written it ("" when nothing is left)."""
    lines = (text[:start] + " " + text[stop:]).split("\n")
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def text_factors_name_sentences(
    *,
    model: ScoringModel,
    encoded: EncodedTable,
    factors: list[list[dict[str, Any]]],
    evidence: TextEvidenceLike,
    batch_size: int = 1024,
) -> None:
    """In place: each text factor gets the sentence whose removal moves the logit most against the factor's
    direction (the sentence that pushed the score that way), as 'Kind: "sentence"', with
    `sentence_weight` = that logit change. Only rows that have a text factor are re-scored."""
    preprocessor = model.preprocessor
    text_keys = {
        key for key, names in factor_fields(preprocessor).items() if preprocessor.schema.column(names[0]).kind == "text"
    }
    rows = [row for row, row_factors in enumerate(factors) if any(f["feature"] in text_keys for f in row_factors)]
    if not rows:
        return
    # 1. Every variant (row, activity, sentence) and the texts it needs embedded, in one batch.
    variants: list[tuple[int, int, str, str]] = []  # (row, activity position, kind, sentence)
    variant_texts: list[str] = []  # the activity without that sentence ("" = the activity drops out)
    originals: list[str] = []
    for row in rows:
        documents = evidence.documents[row]
        originals.extend(text for _, text in documents)
        budget = MAX_SENTENCES
        for position in range(len(documents) - 1, -1, -1):  # newest first
            kind, text = documents[position]
            for start, stop in sentence_spans(text):
                if budget == 0:
                    break
                budget -= 1
                variants.append((row, position, kind, " ".join(text[start:stop].split())))
                variant_texts.append(_without(text, start, stop))
    if not variants:
        return
    vectors = evidence.embed(originals + variant_texts)
    original_vectors, variant_vectors = vectors[: len(originals)], vectors[len(originals) :]
    offsets, offset = {}, 0
    for row in rows:
        offsets[row] = offset
        offset += len(evidence.documents[row])
    # 2. Rebuild each variant's text columns and score it against its row.
    positions = {name: preprocessor.text_positions(name) for name in preprocessor.text_token_columns}
    sources = np.array([row for row, *_ in variants])
    table = encoded.take(sources)
    text = table.text.copy()
    for index, (row, position, _kind, _sentence) in enumerate(variants):
        count = len(evidence.documents[row])
        own = original_vectors[offsets[row] : offsets[row] + count].copy()
        own[position] = variant_vectors[index]
        keep = np.any(own != 0, axis=1)  # a blank text leaves the pool, as it does in the features
        for name, value in evidence.columns(own[keep]).items():
            if name in positions:
                text[index, positions[name]] = 0.0 if value is None else value
    changed = EncodedTable(numeric=table.numeric, categorical=table.categorical, text=text)
    kwargs = {"device": model.device, "batch_size": batch_size, "mixed_precision": False}
    base = predict_logits(model.net, encoded.take(np.array(rows)), **kwargs)
    moved = dict(zip(rows, base, strict=True))
    effects = np.array([moved[row] for row in sources]) - predict_logits(model.net, changed, **kwargs)
    # 3. Name the strongest sentence in each text factor's direction.
    best: dict[tuple[int, str], tuple[float, str, str]] = {}
    for (row, _position, kind, sentence), effect in zip(variants, effects, strict=True):
        for direction, signed in (("+", float(effect)), ("-", -float(effect))):
            if signed > best.get((row, direction), (MIN_WEIGHT, "", ""))[0]:
                best[(row, direction)] = (signed, kind, sentence)
    for row in rows:
        for factor in factors[row]:
            found = best.get((row, factor["direction"])) if factor["feature"] in text_keys else None
            if found is None:
                continue
            signed, kind, sentence = found
            shown = sentence if len(sentence) <= SENTENCE_MAX_CHARS else sentence[: SENTENCE_MAX_CHARS - 1] + "…"
            factor.update(
                label=f'{kind}: "{shown}"',
                value=shown,
                sentence_weight=round(signed if factor["direction"] == "+" else -signed, 4),
            )


def value_text(value: Any) -> str:
    """A raw frame value as a person would say it: 4, 12,000, 45.5, Referral, 2025-01-31, unknown."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "unknown"
    if isinstance(value, (datetime, date)):
        return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return f"{int(round(number)):,}" if abs(number - round(number)) < 1e-9 else f"{number:,.1f}"
    text = str(value).strip()
    return text or "unknown"
