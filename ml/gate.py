"""The promotion gate: may a freshly trained candidate replace the champion? A pure function of metrics.

Rules (margin = settings.ML_GATE_AUC_MARGIN, passed in):
- Baselines: with `require_beats_baseline`, the candidate's held-out ROC-AUC must not be below the best
  baseline's (LightGBM or logistic regression, trained on the same split) by more than the margin.
- Champion: the candidate must beat the champion's ROC-AUC by at least the margin, or match it within the
  margin with better calibration (lower Brier score and an ECE no higher). A win smaller than the margin is
  noise, so it counts as a tie and needs the calibration tie-break.
- No champion yet: the baseline rule alone decides.

The champion's numbers are its stored held-out metrics, measured on its own test split. It is not re-scored
on the candidate's test rows: those rows may be in the champion's training set (the split is redrawn on
newer data), which would flatter the champion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    best_baseline: str | None = None
    champion_model_version_id: int | None = None
    margin: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate_decide(
    *,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    margin: float,
    require_beats_baseline: bool = True,
    champion_model_version_id: int | None = None,
) -> GateDecision:
    """`candidate` and `champion` are ModelVersion.metrics dicts (roc_auc, brier, ece, and for the candidate
    "baselines": {name: metrics}). Returns whether to promote and every reason, passed or failed."""
    reasons: list[str] = []
    passed = True
    auc = _number(candidate, "roc_auc")
    if auc is None:
        return GateDecision(promote=False, reasons=["the candidate has no held-out ROC-AUC"], margin=margin,
                            champion_model_version_id=champion_model_version_id)

    best_name, best_auc = _best_baseline(candidate.get("baselines") or {})
    if best_name is None:
        reasons.append("no baseline metrics to compare with")
        if require_beats_baseline:
            passed = False
    elif auc < best_auc - margin:
        reasons.append(
            f"ROC-AUC {auc:.4f} is below the best baseline ({best_name} {best_auc:.4f}) by more than {margin:g}"
        )
        if require_beats_baseline:
            passed = False
        else:
            reasons[-1] += " (baseline check disabled)"
    else:
        reasons.append(f"ROC-AUC {auc:.4f} is within {margin:g} of or above the best baseline ({best_name} "
                       f"{best_auc:.4f})")

    if champion is None:
        reasons.append("no current champion")
    else:
        champion_auc = _number(champion, "roc_auc")
        if champion_auc is None:
            reasons.append("the champion has no ROC-AUC: the candidate replaces it")
        elif auc >= champion_auc + margin:
            reasons.append(f"ROC-AUC {auc:.4f} beats the champion's {champion_auc:.4f} by at least {margin:g}")
        elif auc > champion_auc - margin:
            if _better_calibrated(candidate, champion):
                reasons.append(
                    f"ROC-AUC {auc:.4f} matches the champion's {champion_auc:.4f} within {margin:g} and "
                    f"calibration is better (Brier {_number(candidate, 'brier'):.4f} < "
                    f"{_number(champion, 'brier'):.4f})"
                )
            else:
                passed = False
                reasons.append(
                    f"ROC-AUC {auc:.4f} only matches the champion's {champion_auc:.4f} within {margin:g} and "
                    "calibration is not better (needs lower Brier and no higher ECE)"
                )
        else:
            passed = False
            reasons.append(f"ROC-AUC {auc:.4f} is worse than the champion's {champion_auc:.4f}")
    return GateDecision(promote=passed, reasons=reasons, best_baseline=best_name, margin=margin,
                        champion_model_version_id=champion_model_version_id)


def _best_baseline(baselines: dict[str, Any]) -> tuple[str | None, float]:
    scored = [(name, _number(metrics, "roc_auc")) for name, metrics in baselines.items() if isinstance(metrics, dict)]
    scored = [(name, value) for name, value in scored if value is not None]
    if not scored:
        return None, float("nan")
    return max(scored, key=lambda item: item[1])


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
