"""email_eval's per-intent figures: drafts shipped, cited vs courtesy sentences, rejections by code, fallback,
model attempts and latency, computed from the rows alone."""

import pytest

from ml.emailgen.evaluation import EvalRow, email_eval_summarize, email_eval_table


def _row(number: int, intent: str, status: str, **kwargs) -> EvalRow:
    return EvalRow(contact_id=number, intent=intent, status=status, email_id=number, **kwargs)


def test_figures_per_intent():
    rows = [
        _row(
            1,
            "first_touch",
            "ready",
            backend="local",
            latency_seconds=4.0,
            model_attempts=1,
            sentences_cited=2,
            sentences_courtesy=1,
        ),
        _row(
            2,
            "first_touch",
            "ready",
            backend="composer",
            fallback_used=True,
            latency_seconds=30.0,
            model_attempts=3,
            caught=["uncited_claim", "role_confusion", "uncited_claim"],
            sentences_cited=3,
            sentences_courtesy=1,
        ),
        _row(
            3,
            "deal_nudge",
            "failed",
            backend="local",
            latency_seconds=8.0,
            model_attempts=3,
            caught=["ungrounded_amount"],
        ),
    ]
    summary = email_eval_summarize(rows)
    first = summary["by_intent"]["first_touch"]
    assert (first["requests"], first["shipped"]) == (2, 2)
    assert first["shipped_by_backend"] == {"local": 1, "composer": 1}
    assert first["fallback"] == {"count": 1, "rate": 0.5}
    assert first["sentences"] == {"cited": 5, "courtesy": 2}
    assert first["rejections_by_code"] == {"uncited_claim": 2, "role_confusion": 1}
    assert first["model_attempts"] == 4
    assert first["latency_seconds"]["p50"] == pytest.approx(17.0)
    nudge = summary["by_intent"]["deal_nudge"]
    assert (nudge["shipped"], nudge["sentences"], nudge["latency_seconds"]["n"]) == (0, {"cited": 0, "courtesy": 0}, 0)
    assert summary["sentences"] == {"cited": 5, "courtesy": 2} and summary["model_attempts"] == 7

    summary["worker"] = {"runtime": "llamacpp", "model_load_seconds": 0.4, "peak_rss_mb": 310.0}
    table = email_eval_table(summary)
    assert "first_touch" in table and "5 cited / 2 courtesy" in table and "uncited_claim 2" in table
    assert "runtime llamacpp, model load 0.40 s, peak RSS 310 MB" in table
