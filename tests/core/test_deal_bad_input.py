"""Bad deal input, each with its defined treatment: missing amount / close date / stage, mixed currencies,
a close date in the past on an open deal, stage names that differ per pipeline."""

import datetime as dt
from decimal import Decimal

import pytest

from salesai.core.currency import MixedCurrencies, base_amounts_total
from salesai.core.deal_history import deal_amounts_total, deal_snapshots_as_of
from salesai.core.deal_reference import StageSpec, currency_rates_upsert, pipeline_stages_upsert
from salesai.core.models import Deal, DealHistory
from salesai.core.services import deal_bulk_upsert
from tests.factories import CRMConnectionFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)


@pytest.fixture
def conn():
    return CRMConnectionFactory()


def _upsert(conn, records):
    stamp = {"remote_created_at": T0.isoformat(), "remote_updated_at": T0.isoformat()}
    return deal_bulk_upsert(
        organization_id=conn.organization_id, connection_id=conn.pk, records=[{**stamp, **r} for r in records]
    )


def test_a_deal_without_amount_close_date_or_stage_is_kept_with_those_unknown(conn):
    result = _upsert(conn, [{"external_id": "bare", "name": "Bare"}])
    assert result.created == 1 and result.errors == []
    [snapshot] = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=T0 + dt.timedelta(days=1))
    assert (snapshot.amount, snapshot.amount_base, snapshot.close_date, snapshot.stage) == (None, None, None, "")
    assert snapshot.stage_probability is None and not snapshot.slipping
    # Only fields with a value get a creation row: an unknown amount is not a change.
    assert set(DealHistory.objects.values_list("field", flat=True)) == {"status"}


def test_mixed_currencies_convert_with_a_stored_rate_and_are_never_added_without_one(conn):
    currency_rates_upsert(organization_id=conn.organization_id, rates={"EUR": "1.10"}, valid_from=dt.date(2025, 1, 1))
    _upsert(
        conn,
        [
            {"external_id": "usd", "name": "A", "amount": "100", "currency": "USD"},
            {"external_id": "eur", "name": "B", "amount": "100", "currency": "EUR"},
            {"external_id": "chf", "name": "C", "amount": "100", "currency": "CHF"},
            {"external_id": "none", "name": "D"},
        ],
    )
    total = deal_amounts_total(organization_id=conn.organization_id)
    assert (total.total, total.counted) == (Decimal("210.00"), 2)
    assert total.left_out == {"no amount": 1, "no stored rate for CHF": 1}
    assert "2 deal(s) left out of the USD total" in total.message and "CHF" in total.message
    rows = list(Deal.objects.values_list("amount_base", "amount", "currency"))
    with pytest.raises(MixedCurrencies, match="cannot add CHF amounts to USD"):
        base_amounts_total(amounts=rows, base_currency="USD", strict=True)

    # A rate stored later fills the base amounts of the deals already there.
    assert (
        currency_rates_upsert(
            organization_id=conn.organization_id, rates={"CHF": "1.2"}, valid_from=dt.date(2025, 1, 1)
        )
        == 1
    )
    assert deal_amounts_total(organization_id=conn.organization_id).total == Decimal("330.00")
    with pytest.raises(ValueError, match="must be positive"):
        currency_rates_upsert(organization_id=conn.organization_id, rates={"GBP": 0}, valid_from=dt.date(2025, 1, 1))


def test_an_open_deal_with_its_close_date_passed_is_kept_and_slipping(conn):
    _upsert(conn, [{"external_id": "late", "name": "Late", "status": "open", "close_date": "2026-01-31"}])
    before = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=dt.datetime(2026, 1, 20, tzinfo=dt.UTC))
    after = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=dt.datetime(2026, 2, 10, tzinfo=dt.UTC))
    assert [(s.close_date_passed, s.slipping) for s in before] == [(False, False)]
    assert [(s.close_date_passed, s.slipping, s.status) for s in after] == [(True, True, "open")]


def test_a_close_date_pushed_twice_is_slipping(conn):
    for step, close in enumerate(("2026-02-28", "2026-03-31", "2026-04-30")):
        when = (T0 + dt.timedelta(days=10 * step)).isoformat()
        _upsert(conn, [{"external_id": "d", "name": "D", "close_date": close, "remote_updated_at": when}])
    [snapshot] = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=T0 + dt.timedelta(days=25))
    assert (snapshot.close_date_pushes, snapshot.close_date_passed, snapshot.slipping) == (2, False, True)


def test_stage_names_differ_per_pipeline_and_so_do_their_probabilities(conn):
    pipeline_stages_upsert(
        organization_id=conn.organization_id,
        stages=[
            StageSpec("Sales", "Proposal", 1, 0.6, False, False),
            StageSpec("Partners", "Proposal", 1, 30, False, False),  # a percent from a CRM: scaled
            StageSpec("Partners", "Signed", 2, 7.5e2, True, True),  # out of range: unknown rather than wrong
        ],
    )
    _upsert(
        conn,
        [
            {"external_id": "s", "name": "S", "pipeline": "Sales", "stage": "Proposal"},
            {"external_id": "p", "name": "P", "pipeline": "Partners", "stage": "Proposal"},
            {"external_id": "x", "name": "X", "pipeline": "Partners", "stage": "Not a stage"},
        ],
    )
    snapshots = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=T0 + dt.timedelta(days=1))
    assert {s.external_id: s.stage_probability for s in snapshots} == {"s": 0.6, "p": 0.3, "x": None}
