"""The deal story: histories that replay to today's state, two pipelines, bad input on purpose, a held-out future,
and the lead and churn stories untouched."""

import statistics
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from salesai.demo import generator
from salesai.demo.deal_story import (
    CURRENCY_RATES,
    PARTNER_PIPELINE,
    UNRATED_CURRENCY,
    read_deal_future,
    write_deal_future,
)
from salesai.demo.generator import DemoCRM, demo_now, generate_demo_crm

NOW = demo_now(day=date(2026, 3, 1))
SIZES = {"companies": 200, "contacts": 1000, "deals": 400, "activities": 4000}


@pytest.fixture(scope="module")
def crm() -> DemoCRM:
    return generate_demo_crm(seed=7, now=NOW, **SIZES)


def _all_deals(crm: DemoCRM):
    return crm.deals + crm.history_deals


def test_the_lead_and_churn_stories_are_identical_without_the_deal_story(crm, monkeypatch):
    monkeypatch.setattr(generator._Builder, "tell_deal_story", lambda self, crm, n_history_deals: None)
    without = generate_demo_crm(seed=7, now=NOW, **SIZES)
    assert without.history_deals == [] and without.deal_history == []
    assert (without.companies, without.contacts, without.deals, without.activities) == (
        crm.companies,
        crm.contacts,
        crm.deals,
        crm.activities,
    )


def test_every_history_replays_to_the_state_the_crm_shows_today(crm):
    last: dict[tuple[str, str], str] = {}
    times = defaultdict(list)
    for change in crm.deal_history:
        assert change.old_value != change.new_value and change.changed_at <= NOW
        times[change.deal_external_id].append(change.changed_at)
        last[(change.deal_external_id, change.field)] = change.new_value
    for deal in _all_deals(crm):
        shown = {
            "stage": deal.stage,
            "status": deal.status,
            "pipeline": deal.pipeline,
            "owner_email": deal.owner_email,
            "currency": deal.currency,
            "amount": "" if deal.amount is None else str(deal.amount),
            "close_date": deal.close_date.isoformat() if deal.close_date else "",
        }
        for field, value in shown.items():
            assert last.get((deal.external_id, field), "") == value, (deal.external_id, field)
        assert min(times[deal.external_id]) == deal.created_at


def test_history_spans_two_years_with_stages_advancing_close_dates_slipping_and_amounts_changing(crm):
    assert min(d.created_at for d in crm.history_deals) <= NOW - timedelta(days=730)
    fields = Counter(c.field for c in crm.deal_history if c.old_value)
    assert fields["stage"] > len(_all_deals(crm)) and fields["close_date"] > 100 and fields["amount"] > 50
    pushes = [c for c in crm.deal_history if c.field == "close_date" and c.old_value and c.new_value > c.old_value]
    assert len(pushes) > 100


def test_two_pipelines_name_their_stages_differently(crm):
    stages = defaultdict(set)
    for stage in crm.pipeline_stages:
        stages[stage.pipeline].add(stage.stage)
        assert 0 <= stage.probability <= 1
    assert len(stages) == 2 and not stages[PARTNER_PIPELINE] & stages[generator.vocab.DEAL_PIPELINE]
    for deal in _all_deals(crm):
        assert deal.stage in stages[deal.pipeline]


def test_bad_input_on_purpose(crm):
    deals = crm.history_deals
    assert any(d.amount is None for d in deals) and any(d.close_date is None for d in deals)
    assert any(d.status == "open" and d.close_date and d.close_date < NOW.date() for d in deals)
    currencies = Counter(d.currency for d in _all_deals(crm))
    assert currencies[UNRATED_CURRENCY] > 0 and UNRATED_CURRENCY not in CURRENCY_RATES
    assert len(currencies) >= 3


def test_the_future_is_held_out(crm, tmp_path):
    open_now = {d.external_id for d in _all_deals(crm) if d.status == "open"}
    future = {o.deal_external_id: o for o in crm.deal_future}
    assert set(future) <= open_now and len(future) > 0.8 * len(open_now)
    assert all(o.closed_at > NOW and o.status in ("won", "lost") for o in future.values())
    assert {o.status for o in future.values()} == {"won", "lost"}
    # Closed deals show when they closed; open ones do not.
    assert all((d.closed_at is None) == (d.status == "open") for d in crm.history_deals)
    path = write_deal_future(outcomes=crm.deal_future, path=tmp_path / "future.csv")
    assert read_deal_future(path=path) == crm.deal_future


def test_weak_deals_lose_more_and_the_notes_say_so(crm):
    # The history deals' outcomes are not coin flips: the reps' notes on a deal lean the way it goes.
    won_words = ("approved", "Legal review", "economic buyer", "full rollout", "references", "Verbal yes")
    notes = defaultdict(list)
    for note in crm.deal_notes:
        notes[note.deal_external_id].append(note.body)
    rates = {}
    for label, wanted in (("good", True), ("other", False)):
        chosen = [
            d
            for d in crm.history_deals
            if d.status != "open"
            and notes[d.external_id]
            and any(w in body for body in notes[d.external_id] for w in won_words) == wanted
        ]
        rates[label] = sum(d.status == "won" for d in chosen) / len(chosen)
    assert rates["good"] > rates["other"] + 0.15


def test_an_open_deal_closes_at_the_pace_its_history_shows(crm):
    """A lead-story deal reaching the last stage quickly closes soon after, both in the past and in the held-out
    future: otherwise a model trained on the past cannot time today's deals (issue 12: month 1 far too high)."""
    reached_last = {}
    for change in crm.deal_history:
        if change.field == "stage" and change.new_value == "Contract sent":
            reached_last.setdefault(change.deal_external_id, change.changed_at)
    future = {o.deal_external_id: o for o in crm.deal_future}

    def pace(deal, closed_at):  # time from the last stage to the win, over the time it took to reach it
        reached = reached_last[deal.external_id]
        return (closed_at - reached) / max(reached - deal.created_at, timedelta(minutes=1))

    past = [pace(d, d.closed_at) for d in crm.deals if d.status == "won"]
    ahead = [
        pace(d, future[d.external_id].closed_at)
        for d in crm.deals
        if d.status == "open" and d.external_id in reached_last and future[d.external_id].status == "won"
    ]
    assert len(past) > 50 and len(ahead) > 10
    assert 0.5 < statistics.median(ahead) / statistics.median(past) < 2
