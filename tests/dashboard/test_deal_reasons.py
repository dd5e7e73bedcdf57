"""Deal score reasons in a rep's words; unknown features keep the model's label."""

import pytest

from salesai.dashboard.deal_reasons import deal_reasons


@pytest.mark.parametrize(
    ("feature", "label", "text"),
    [
        ("stage", "Stage = Sales Pipeline / Contract sent", "At stage “Contract sent” of Sales Pipeline"),
        ("stage", "Stage = proposal", "At stage “proposal”"),
        ("stage_changes", "Stage changes = 0", "Has not moved stage yet"),
        ("stage_changes", "Stage changes = 3", "Moved stage 3 times"),
        ("age_days", "Deal age (days) = 75", "Open for 75 days"),
        ("days_to_close", "Days to expected close = unknown", "No expected close date set"),
        ("days_to_close", "Days to expected close = -4", "Expected close date passed 4 days ago"),
        ("close_date_pushes", "Close date pushed = 2", "Close date pushed later 2 times"),
        ("days_in_stage", "Days in stage = 5", "5 days in the current stage"),
        ("stage_probability", "Stage probability (CRM) = 0.4", "The CRM gives this stage 40%"),
        ("log_amount", "Amount = 63,480", "Deal size 63,480"),
        ("close_date_passed", "Close date passed = 1", "Close date has passed"),
        ("amount_missing", "No amount = 1", "No amount entered"),
        ("pipeline", "Pipeline = Partner Channel", "In the Partner Channel pipeline"),
        ("emails_30d", "Emails in 30 days = 4", "Emails in 30 days = 4"),
        ("stage", "Late-stage deal", "Late-stage deal"),
    ],
)
def test_each_factor_reads_as_a_sentence(feature, label, text):
    (reason,) = deal_reasons(factors=[{"feature": feature, "label": label, "direction": "+"}])

    assert reason.text == text and reason.raises is True


def test_direction_order_and_junk():
    reasons = deal_reasons(factors=[{"feature": "x", "label": "A", "direction": "-"}, "junk", {"feature": "y"}])

    assert [(r.text, r.raises) for r in reasons] == [("A", False), ("y", True)]
    assert deal_reasons(factors=None) == []
