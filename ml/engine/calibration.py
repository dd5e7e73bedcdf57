"""Post-hoc probability calibration and the metrics that judge a probabilistic classifier.

The net is trained with a class-imbalance weight, so its raw sigmoid over-states the positive rate; a
calibrator fitted on held-out logits maps them back to honest probabilities. Platt scaling (a*z + b) is
the default, temperature scaling (z / T) the most conservative, isotonic the most flexible (needs more data).
Metrics are plain numpy so they run anywhere; tests check them against scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

METHODS = ("identity", "temperature", "platt", "isotonic")
_EPS = float(np.finfo(np.float64).eps)  # the clipping scikit-learn's log_loss uses


def sigmoid(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


@dataclass
class Calibrator:
    method: str = "identity"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}")

    def transform(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw logits."""
        z = np.asarray(logits, dtype=np.float64)
        if self.method == "temperature":
            return sigmoid(z / self.params["temperature"])
        if self.method == "platt":
            return sigmoid(self.params["a"] * z + self.params["b"])
        if self.method == "isotonic":
            return np.interp(z, self.params["x"], self.params["y"])
        return sigmoid(z)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(method=data["method"], params=dict(data.get("params", {})))


MIN_PLATT_SLOPE = 1e-3  # Platt's slope is kept positive: calibration never reverses a model's ranking


def calibrator_fit(logits: np.ndarray, labels: np.ndarray, *, method: str = "platt") -> Calibrator:
    """Fit on held-out (logit, label) pairs. With a single class there is nothing to fit: identity."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}")
    if method == "identity" or len(np.unique(y)) < 2:
        return Calibrator(method="identity")
    if method == "temperature":
        a, _ = _newton_logistic(z, y, fit_bias=False)
        a = max(a, 1e-3)  # a temperature is positive; a "negative" fit means the logits carry no signal
        return Calibrator(method="temperature", params={"temperature": float(1 / a)})
    if method == "platt":
        a, b = _newton_logistic(z, y, fit_bias=True)
        if a <= MIN_PLATT_SLOPE:
            # A non-positive slope says the held-out logits carry no signal there (a small, noisy
            # calibration set); flipping the model's ranking on that evidence would be worse. Keep the order,
            # flatten towards the base rate: the probabilities then say "we do not know" honestly.
            a = MIN_PLATT_SLOPE
            base_rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            b = float(np.log(base_rate / (1 - base_rate)) - a * z.mean())
        return Calibrator(method="platt", params={"a": float(a), "b": float(b)})
    from sklearn.isotonic import IsotonicRegression  # only this branch needs it

    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(z, y)
    return Calibrator(
        method="isotonic",
        params={"x": [float(v) for v in isotonic.X_thresholds_], "y": [float(v) for v in isotonic.y_thresholds_]},
    )


def _newton_logistic(z: np.ndarray, y: np.ndarray, *, fit_bias: bool, iterations: int = 100) -> tuple[float, float]:
    """Maximum-likelihood p = sigmoid(a*z + b) by damped Newton steps (2 parameters: exact and fast), with a
    tiny ridge towards the identity (a=1, b=0) so separable data cannot send the slope to infinity."""
    design = np.stack([z, np.ones_like(z)], axis=1) if fit_bias else z[:, None]
    prior = np.eye(design.shape[1])[0]
    ridge = 1e-4 * len(z)

    def objective(theta: np.ndarray) -> float:
        margin = design @ theta
        return float(np.sum(np.logaddexp(0, margin) - y * margin) + 0.5 * ridge * np.sum((theta - prior) ** 2))

    theta = prior.copy()
    current = objective(theta)
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        gradient = design.T @ (p - y) + ridge * (theta - prior)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + ridge * np.eye(len(theta))
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6 and objective(theta - scale * step) > current:  # backtrack: never get worse
            scale /= 2
        theta = theta - scale * step
        previous, current = current, objective(theta)
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    return float(theta[0]), (float(theta[1]) if fit_bias else 0.0)


# --- metrics -------------------------------------------------------------------------------------------------
def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney with tied ranks averaged); None with a single class."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(s, method="average")
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """PR-AUC as average precision (sum over thresholds of precision x recall step), as scikit-learn does."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    positives = int(y.sum())
    if positives == 0:
        return None
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # thresholds: one per distinct score
    true_positives = np.cumsum(y)[last_of_tie]
    predicted = last_of_tie + 1
    precision = true_positives / predicted
    recall = true_positives / positives
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def brier_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    return float(np.mean((p - y) ** 2))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def reliability_table(labels: np.ndarray, probabilities: np.ndarray, *, n_bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width probability bins: how many rows, mean predicted probability, observed positive rate."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    table = []
    for b in range(n_bins):
        mask = bins == b
        count = int(mask.sum())
        table.append(
            {
                "bin_lower": float(edges[b]),
                "bin_upper": float(edges[b + 1]),
                "count": count,
                "mean_predicted": float(p[mask].mean()) if count else None,
                "observed_rate": float(y[mask].mean()) if count else None,
            }
        )
    return table


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, *, n_bins: int = 10) -> float:
    """Row-weighted mean |predicted - observed| over equal-width bins."""
    table = reliability_table(labels, probabilities, n_bins=n_bins)
    total = sum(row["count"] for row in table)
    if total == 0:
        return 0.0
    return float(
        sum(row["count"] * abs(row["mean_predicted"] - row["observed_rate"]) for row in table if row["count"]) / total
    )


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, *, n_bins: int = 10) -> dict[str, Any]:
    """Everything a model version records about its held-out performance (JSON-ready)."""
    y = np.asarray(labels).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    return {
        "rows": int(len(y)),
        "positives": int(np.sum(y)),
        "base_rate": float(np.mean(y)) if len(y) else None,
        "roc_auc": roc_auc(y, p),
        "pr_auc": average_precision(y, p),
        "brier": brier_score(y, p) if len(y) else None,
        "log_loss": log_loss(y, p) if len(y) else None,
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "reliability": reliability_table(y, p, n_bins=n_bins),
    }
