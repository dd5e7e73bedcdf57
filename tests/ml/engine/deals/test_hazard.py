import numpy as np
import pandas as pd
import pytest

from ml.engine.deals.hazard import cumulative_to_monthly, hazard_rows, hazards_to_cumulative

ORIGIN = pd.Timestamp("2024-03-01")


def _snapshot(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "deal_id": ids,
            "amount": 100.0,
            "stage": "s",
            "close_date": pd.Timestamp("2024-04-15"),
            "created_at": pd.Timestamp("2024-01-01"),
        }
    )


def _outcomes(rows: list[tuple[int, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "status": [r[1] for r in rows],
            "closed_at": [pd.Timestamp(r[2]) if r[2] else pd.NaT for r in rows],
            "value": 1.0,
        },
        index=[r[0] for r in rows],
    )


def test_won_lost_open_and_censoring_as_known_at_a_date():
    outcomes = _outcomes(
        [
            (1, "won", "2024-04-10"),  # won in month 2
            (2, "lost", "2024-03-20"),  # lost in month 1: never wins, every month settled
            (3, "open", None),  # still open
            (4, "won", "2024-07-02"),  # won after the horizon
            (5, "won", "2024-04-20"),  # won in month 2, but not yet known on 2024-04-15
        ]
    )
    rows = hazard_rows(
        snapshots={ORIGIN: _snapshot([1, 2, 3, 4, 5])},
        outcomes=outcomes,
        horizon=3,
        known_until=pd.Timestamp("2024-04-15"),
    )
    labels = dict(zip(rows.keys["deal_id"], rows.labels.tolist(), strict=True))
    mask = dict(zip(rows.keys["deal_id"], rows.mask.tolist(), strict=True))
    won_within = dict(zip(rows.keys["deal_id"], rows.won_within.tolist(), strict=True))
    # Deal 1 was won on 2024-04-10, before known_until: at risk in months 1-2, label 1 in month 2, not at risk after.
    assert labels[1] == [0, 1, 0] and mask[1] == [True, True, False] and won_within[1] == 1
    # Deal 2 (lost) stays at risk with label 0 in every month: a loss is never a win later.
    assert labels[2] == [0, 0, 0] and mask[2] == [True, True, True] and won_within[2] == 0
    # Deals 3, 4 and 5 are open as known on 2024-04-15: only March has ended; April and May are censored.
    for deal in (3, 4, 5):
        assert labels[deal] == [0, 0, 0] and mask[deal] == [True, False, False]
        assert np.isnan(won_within[deal])


def test_everything_known_settles_the_horizon():
    outcomes = _outcomes([(4, "won", "2024-07-02"), (5, "won", "2024-04-20")])
    rows = hazard_rows(snapshots={ORIGIN: _snapshot([4, 5])}, outcomes=outcomes, horizon=3)
    assert rows.labels.tolist() == [[0, 0, 0], [0, 1, 0]]
    assert rows.won_within.tolist() == [0.0, 1.0]


def test_origins_after_known_until_are_refused():
    with pytest.raises(ValueError, match="not before known_until"):
        hazard_rows(
            snapshots={ORIGIN: _snapshot([1])}, outcomes=_outcomes([(1, "open", None)]), horizon=3, known_until=ORIGIN
        )


def test_cumulative_from_hazards():
    hazards = np.array([[0.5, 0.5, 0.5], [0.0, 0.2, 1.0]])
    cumulative = hazards_to_cumulative(hazards)
    np.testing.assert_allclose(cumulative, [[0.5, 0.75, 0.875], [0.0, 0.2, 1.0]])
    np.testing.assert_allclose(cumulative_to_monthly(cumulative), [[0.5, 0.25, 0.125], [0.0, 0.2, 0.8]])


def test_a_month_never_observed_in_training_borrows_the_previous_months_hazard():
    from ml.engine.deals.models import MIN_MONTH_WINS, DealModels, StageWeighted
    from ml.engine.schema import TableSchema

    class Fixed:
        def hazards(self, rows, sequences):
            return np.tile([0.3, 0.2, 0.0], (len(rows), 1))

    rows = hazard_rows(snapshots={ORIGIN: _snapshot([1])}, outcomes=_outcomes([(1, "open", None)]), horizon=3)
    models = DealModels(
        horizon=3,
        schema=TableSchema(columns=()),
        families={"fixed": Fixed()},
        stage_weighted=StageWeighted(rates={}, overall=0.0),
        chosen="fixed",
        month_wins=[50, MIN_MONTH_WINS, 0],
    )
    np.testing.assert_allclose(models.hazards(rows, None), [[0.3, 0.2, 0.2]])
