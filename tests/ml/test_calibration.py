import numpy as np
import pytest
from sklearn import metrics as sk

from ml.engine.calibration import (
    Calibrator,
    average_precision,
    brier_score,
    calibrator_fit,
    classification_metrics,
    expected_calibration_error,
    log_loss,
    reliability_table,
    roc_auc,
    sigmoid,
)


def _overconfident(seed: int = 0, n: int = 6000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True logits z, labels drawn from sigmoid(z), and a miscalibrated model's logits 3z + 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.2, n)
    labels = (rng.random(n) < sigmoid(z)).astype(int)
    return z, labels, 3 * z + 1


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic"])
def test_calibration_fitted_on_held_out_data_reduces_ece(method):
    _, labels, logits = _overconfident()
    fit, check = slice(0, 3000), slice(3000, None)
    calibrator = calibrator_fit(logits[fit], labels[fit], method=method)
    before = expected_calibration_error(labels[check], sigmoid(logits[check]))
    after = expected_calibration_error(labels[check], calibrator.transform(logits[check]))
    assert before > 0.1
    assert after < before / 2
    restored = Calibrator.from_dict(calibrator.to_dict())
    np.testing.assert_allclose(restored.transform(logits[:50]), calibrator.transform(logits[:50]))


def test_platt_recovers_the_true_scaling():
    _, labels, logits = _overconfident(n=20000)
    calibrator = calibrator_fit(logits, labels, method="platt")
    assert calibrator.params["a"] == pytest.approx(1 / 3, abs=0.05)
    assert calibrator.params["b"] == pytest.approx(-1 / 3, abs=0.1)


def test_platt_never_reverses_the_ranking_when_the_calibration_set_disagrees():
    # A small noisy calibration set where higher logits happen to come with fewer positives.
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1, 60)
    labels = (rng.random(60) < sigmoid(-2 * logits)).astype(int)
    calibrator = calibrator_fit(logits, labels, method="platt")
    probabilities = calibrator.transform(np.array([-2.0, 0.0, 2.0]))
    assert np.all(np.diff(probabilities) > 0)  # the model's order survives
    assert calibrator.params["a"] > 0
    # Flattened towards the base rate: the calibrator does not pretend to know more than it does.
    assert probabilities.max() - probabilities.min() < 0.05
    assert probabilities[1] == pytest.approx(labels.mean(), abs=0.05)


def test_single_class_gives_identity():
    calibrator = calibrator_fit(np.array([0.1, 2.0]), np.array([1, 1]))
    assert calibrator.method == "identity"
    assert calibrator.transform(np.array([0.0]))[0] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    probabilities = np.clip(np.round(rng.random(300) * 0.7 + 0.3 * labels, 2), 0.001, 0.999)  # ties included
    assert roc_auc(labels, probabilities) == pytest.approx(sk.roc_auc_score(labels, probabilities), abs=1e-12)
    assert average_precision(labels, probabilities) == pytest.approx(
        sk.average_precision_score(labels, probabilities), abs=1e-12
    )
    assert brier_score(labels, probabilities) == pytest.approx(sk.brier_score_loss(labels, probabilities))
    assert log_loss(labels, probabilities) == pytest.approx(sk.log_loss(labels, probabilities))


def test_reliability_table_and_ece_by_hand():
    labels = np.array([0, 0, 1, 1, 1])
    probabilities = np.array([0.05, 0.15, 0.15, 0.95, 0.95])
    table = reliability_table(labels, probabilities, n_bins=10)
    assert len(table) == 10
    assert [row["count"] for row in table] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table[1]["mean_predicted"] == pytest.approx(0.15) and table[1]["observed_rate"] == pytest.approx(0.5)
    # (1*|0.05-0| + 2*|0.15-0.5| + 2*|0.95-1|) / 5
    assert expected_calibration_error(labels, probabilities) == pytest.approx((0.05 + 0.7 + 0.1) / 5)


def test_classification_metrics_summary_is_json_ready_and_handles_one_class():
    summary = classification_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    assert summary["roc_auc"] is None and summary["pr_auc"] is None
    assert summary["rows"] == 3 and summary["positives"] == 0
    assert len(summary["reliability"]) == 10
