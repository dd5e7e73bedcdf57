"""The promotion gate: which model family serves, and may it replace the champion? Pure numpy: no Django.

Every training run fits several families (the Transformer, a tuned LightGBM, a logistic regression) on one
split and predicts the same held-out rows with each. Decisions are paired comparisons on those rows: the
difference of two ROC-AUCs with a DeLong confidence interval (DeLong, DeLong & Clarke-Pearson 1988; the fast
algorithm of Sun & Xu 2014), so "better" means better beyond the noise of this test set, not a fixed margin.

1. Family choice (`family_choose`): the Transformer (the preferred family) serves unless a baseline is
   significantly better (the interval of "Transformer minus best baseline" lies wholly below 0); then the
   best baseline serves. `prefer_always` (the ML_GATE_REQUIRE_BEATS_BASELINE=False deployment setting) keeps
   the preferred family whatever the baselines do.
2. Champion (`champion_decide`): the chosen candidate and the champion are scored on the same rows (the
   candidate's test rows that the champion never trained on). Significantly better: promoted. Significantly
   worse: kept as candidate. A tie: promoted when its Brier score on those rows is no worse (newer data wins
   ties), else kept. Without enough shared rows (an old champion that did not record what it trained on, or
   too few of each class), the stored held-out metrics decide with the fixed `margin` as before.
3. No champion yet: the chosen family is promoted. An organisation that trained always has a model serving.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

PREFERRED_FAMILY = "transformer"
CONFIDENCE = 0.95
MIN_PAIRED_PER_CLASS = 10  # fewer positives or negatives in the shared rows: the interval means nothing


@dataclass(frozen=True)
class AucDifference:
    """ROC-AUC of A minus B on the same rows, with its DeLong interval."""

    a: str
    b: str
    auc_a: float
    auc_b: float
    difference: float
    low: float
    high: float
    confidence: float
    rows: int
    positives: int

    @property
    def verdict(self) -> str:
        """ "better", "worse" or "tie" for A against B."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "tie"

    def describe(self) -> str:
        return (
            f"{self.a} {self.auc_a:.4f} vs {self.b} {self.auc_b:.4f}: difference {self.difference:+.4f}, "
            f"{self.confidence:.0%} CI [{self.low:+.4f}, {self.high:+.4f}] on {self.rows} rows"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def auc_difference(
    *,
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    a: str = "a",
    b: str = "b",
    confidence: float = CONFIDENCE,
) -> AucDifference | None:
    """Paired DeLong comparison of two scorings of the same rows; None when a class is missing."""
    y = np.asarray(labels).astype(int).ravel()
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0:
        return None
    scores = np.vstack([np.asarray(scores_a, dtype=float).ravel(), np.asarray(scores_b, dtype=float).ravel()])
    if scores.shape[1] != len(y):
        raise ValueError("labels and scores differ in length")
    aucs, covariance = _delong(scores[:, y == 1], scores[:, y == 0])
    difference = float(aucs[0] - aucs[1])
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    half = float(norm.ppf(0.5 + confidence / 2)) * math.sqrt(max(variance, 0.0))
    return AucDifference(
        a=a,
        b=b,
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=difference,
        low=difference - half,
        high=difference + half,
        confidence=confidence,
        rows=len(y),
        positives=positives,
    )


def _delong(positive_scores: np.ndarray, negative_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their covariance (k, k) for k scorings: (k, m) positives' and (k, n) negatives' scores."""
    m, n = positive_scores.shape[1], negative_scores.shape[1]
    combined = np.hstack([positive_scores, negative_scores])
    tx = np.vstack([rankdata(row) for row in positive_scores])
    ty = np.vstack([rankdata(row) for row in negative_scores])
    tz = np.vstack([rankdata(row) for row in combined])
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n  # per positive: share of negatives it outranks
    v10 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives that outrank it
    sx = np.atleast_2d(np.cov(v01)) if m > 1 else np.zeros((len(aucs), len(aucs)))
    sy = np.atleast_2d(np.cov(v10)) if n > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, sx / m + sy / n


@dataclass(frozen=True)
class FamilyChoice:
    family: str
    reasons: list[str]
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # AucDifference dicts, preferred vs each

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def family_choose(
    *,
    labels: np.ndarray,
    probabilities: dict[str, np.ndarray],
    preferred: str = PREFERRED_FAMILY,
    prefer_always: bool = False,
    confidence: float = CONFIDENCE,
) -> FamilyChoice:
    """Pick the family that serves from held-out probabilities of the same rows (families that failed to
    train are simply absent). Raises ValueError when no family has probabilities."""
    if not probabilities:
        raise ValueError("no model family produced held-out predictions")
    y = np.asarray(labels).astype(int)
    aucs = {name: _auc(y, p) for name, p in probabilities.items()}
    ranked = sorted(aucs, key=lambda name: (-(aucs[name] if aucs[name] is not None else -1.0), name != preferred))
    best = ranked[0]
    if preferred not in probabilities:
        return FamilyChoice(family=best, reasons=[f"{preferred} did not train; {best} has the best held-out ROC-AUC"])
    comparisons = [
        auc_difference(
            labels=y,
            scores_a=probabilities[preferred],
            scores_b=probabilities[name],
            a=preferred,
            b=name,
            confidence=confidence,
        )
        for name in probabilities
        if name != preferred
    ]
    comparisons = [c for c in comparisons if c is not None]
    as_dicts = [c.to_dict() for c in comparisons]
    if best == preferred or not comparisons:
        return FamilyChoice(
            family=preferred,
            comparisons=as_dicts,
            reasons=[f"{preferred} has the best held-out ROC-AUC"] + [c.describe() for c in comparisons],
        )
    against_best = next(c for c in comparisons if c.b == best)
    if prefer_always:
        return FamilyChoice(
            family=preferred,
            comparisons=as_dicts,
            reasons=[
                f"{preferred} serves by this deployment's setting (baselines are not allowed to serve)",
                against_best.describe(),
            ],
        )
    if against_best.verdict == "worse":
        return FamilyChoice(
            family=best,
            comparisons=as_dicts,
            reasons=[f"{best} serves: {preferred} is significantly worse", against_best.describe()],
        )
    return FamilyChoice(
        family=preferred,
        comparisons=as_dicts,
        reasons=[
            f"{preferred} serves: not significantly worse than the best baseline ({best})",
            against_best.describe(),
        ],
    )


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    family: str
    reasons: list[str] = field(default_factory=list)
    family_choice: dict[str, Any] = field(default_factory=dict)
    champion_comparison: dict[str, Any] | None = None  # AucDifference dict, candidate vs champion
    champion_model_version_id: int | None = None
    margin: float = 0.0
    method: str = "delong"  # "delong" (paired) or "stored metrics" (fallback)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChampionEvidence:
    """What is known of the current champion: its stored metrics and, when it could be re-scored on the
    candidate's held-out rows it never trained on, its probabilities there (with those rows' labels and the
    candidate's probabilities on the same rows)."""

    model_version_id: int
    metrics: dict[str, Any]
    labels: np.ndarray | None = None
    champion_probabilities: np.ndarray | None = None
    candidate_probabilities: np.ndarray | None = None


def champion_decide(
    *,
    choice: FamilyChoice,
    candidate_metrics: dict[str, Any],
    champion: ChampionEvidence | None,
    margin: float,
    confidence: float = CONFIDENCE,
) -> GateDecision:
    """May the chosen candidate replace the champion? See the module docstring for the rules."""
    base = {"family": choice.family, "family_choice": choice.to_dict(), "margin": margin}
    reasons = list(choice.reasons)
    auc = _number(candidate_metrics, "roc_auc")
    if champion is None:
        return GateDecision(promote=True, reasons=[*reasons, "no current champion: the chosen family serves"], **base)
    base["champion_model_version_id"] = champion.model_version_id
    paired = _paired(champion, confidence=confidence)
    if paired is not None:
        comparison = paired.to_dict()
        if paired.verdict == "better":
            return GateDecision(
                promote=True,
                champion_comparison=comparison,
                reasons=[*reasons, f"better than the champion: {paired.describe()}"],
                **base,
            )
        if paired.verdict == "worse":
            return GateDecision(
                promote=False,
                champion_comparison=comparison,
                reasons=[*reasons, f"worse than the champion: {paired.describe()}"],
                **base,
            )
        candidate_brier = _brier(champion.labels, champion.candidate_probabilities)
        champion_brier = _brier(champion.labels, champion.champion_probabilities)
        tie = f"a tie with the champion ({paired.describe()})"
        if candidate_brier <= champion_brier:
            return GateDecision(
                promote=True,
                champion_comparison=comparison,
                reasons=[
                    *reasons,
                    f"{tie}; Brier {candidate_brier:.4f} <= the champion's {champion_brier:.4f} on those rows",
                ],
                **base,
            )
        return GateDecision(
            promote=False,
            champion_comparison=comparison,
            reasons=[
                *reasons,
                f"{tie}; Brier {candidate_brier:.4f} > the champion's {champion_brier:.4f} on those rows",
            ],
            **base,
        )
    return _stored_metrics_decide(
        reasons=reasons,
        auc=auc,
        candidate_metrics=candidate_metrics,
        champion_metrics=champion.metrics,
        margin=margin,
        base=base,
    )


def _paired(champion: ChampionEvidence, *, confidence: float) -> AucDifference | None:
    if champion.labels is None or champion.champion_probabilities is None or champion.candidate_probabilities is None:
        return None
    y = np.asarray(champion.labels).astype(int)
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_PAIRED_PER_CLASS:
        return None
    return auc_difference(
        labels=y,
        scores_a=champion.candidate_probabilities,
        scores_b=champion.champion_probabilities,
        a="candidate",
        b="champion",
        confidence=confidence,
    )


def _stored_metrics_decide(
    *,
    reasons: list[str],
    auc: float | None,
    candidate_metrics: dict[str, Any],
    champion_metrics: dict[str, Any],
    margin: float,
    base: dict[str, Any],
) -> GateDecision:
    """Fallback: each model's own held-out metrics (different rows), a win must exceed `margin`."""
    reasons = [*reasons, "the champion could not be re-scored on shared rows: compared on stored metrics"]
    champion_auc = _number(champion_metrics, "roc_auc")
    decide = {**base, "method": "stored metrics"}
    if auc is None:
        return GateDecision(promote=False, reasons=[*reasons, "the candidate has no held-out ROC-AUC"], **decide)
    if champion_auc is None:
        return GateDecision(promote=True, reasons=[*reasons, "the champion has no ROC-AUC: replaced"], **decide)
    if auc >= champion_auc + margin:
        return GateDecision(
            promote=True,
            reasons=[*reasons, f"ROC-AUC {auc:.4f} beats the champion's {champion_auc:.4f} by at least {margin:g}"],
            **decide,
        )
    if auc > champion_auc - margin and _better_calibrated(candidate_metrics, champion_metrics):
        return GateDecision(
            promote=True,
            reasons=[
                *reasons,
                f"ROC-AUC {auc:.4f} matches the champion's {champion_auc:.4f} within {margin:g} with a "
                "lower Brier score",
            ],
            **decide,
        )
    return GateDecision(
        promote=False,
        reasons=[
            *reasons,
            f"ROC-AUC {auc:.4f} does not beat the champion's {champion_auc:.4f} (margin {margin:g}, "
            "calibration tie-break)",
        ],
        **decide,
    )


def _auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    if y.min() == y.max():
        return None
    ranks = rankdata(np.asarray(scores, dtype=float))
    positives = int(y.sum())
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


def _brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((np.asarray(probabilities, dtype=float) - np.asarray(labels, dtype=float)) ** 2))


def _better_calibrated(candidate: dict[str, Any], champion: dict[str, Any]) -> bool:
    brier, champion_brier = _number(candidate, "brier"), _number(champion, "brier")
    if brier is None or champion_brier is None or brier >= champion_brier:
        return False
    ece, champion_ece = _number(candidate, "ece"), _number(champion, "ece")
    return ece is None or champion_ece is None or ece <= champion_ece


def _number(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) else value  # NaN (e.g. AUC of a one-class test split) is "unknown"
