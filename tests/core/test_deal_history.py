import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from salesai.core.deal_history import (
    FieldChange,
    deal_history_backfill,
    deal_history_source,
    deal_outcomes,
    deal_snapshots_as_of,
    deal_snapshots_at,
)
from salesai.core.models import CurrencyRate, Deal, DealHistory, OwnerTeam, PipelineStage
from salesai.core.services import deal_bulk_upsert
from salesai.core.upsert import engine as upsert_engine
from tests.factories import CRMConnectionFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["orm", "postgres"])
def upsert_path(request, monkeypatch):
    if request.param == "postgres" and db_connection.vendor != "postgresql":
        pytest.skip("the fast path needs PostgreSQL")
    monkeypatch.setattr(upsert_engine, "POSTGRES_FAST_PATH", request.param == "postgres")
    return request.param


@pytest.fixture
def conn():
    return CRMConnectionFactory()


def _upsert(conn, records):
    return deal_bulk_upsert(organization_id=conn.organization_id, connection_id=conn.pk, records=records)


def _deal(**fields):
    return {
        "external_id": "D1",
        "name": "Turbines",
        "amount": "1000",
        "currency": "USD",
        "pipeline": "default",
        "stage": "qualified",
        "status": "open",
        "close_date": "2026-03-31",
        "owner_email": "ana@example.com",
        "remote_created_at": T0.isoformat(),
        "remote_updated_at": T0.isoformat(),
        **fields,
    }


def _history(deal_id):
    return list(DealHistory.objects.filter(deal_id=deal_id).values_list("field", "old_value", "new_value", "source"))


def test_create_writes_one_row_per_field_with_a_value_and_an_unchanged_record_writes_none(conn, upsert_path):
    result = _upsert(conn, [_deal(amount=None)])
    deal_id = result.ids_by_external_id["D1"]
    rows = _history(deal_id)
    assert {field for field, *_ in rows} == {"stage", "currency", "close_date", "owner_email", "status", "pipeline"}
    assert all(old == "" and source == "sync" for _, old, _, source in rows)

    _upsert(conn, [_deal(amount=None)])
    assert len(_history(deal_id)) == len(rows)


def test_update_appends_only_the_changed_fields_at_the_crm_modification_time(conn, upsert_path):
    deal_id = _upsert(conn, [_deal()]).ids_by_external_id["D1"]
    later = T0 + dt.timedelta(days=10)
    _upsert(conn, [_deal(stage="proposal", close_date="2026-04-30", remote_updated_at=later.isoformat())])
    changes = DealHistory.objects.filter(deal_id=deal_id, changed_at=later).values_list(
        "field", "old_value", "new_value"
    )
    assert sorted(changes) == [("close_date", "2026-03-31", "2026-04-30"), ("stage", "qualified", "proposal")]


def test_status_change_sets_closed_at_and_reopening_clears_it(conn, upsert_path):
    deal_id = _upsert(conn, [_deal()]).ids_by_external_id["D1"]
    won_at = T0 + dt.timedelta(days=20)
    _upsert(conn, [_deal(status="won", stage="closedwon", remote_updated_at=won_at.isoformat())])
    assert Deal.objects.get(pk=deal_id).closed_at == won_at
    assert deal_outcomes(organization_id=conn.organization_id) == {deal_id: ("won", won_at)}
    _upsert(conn, [_deal(status="open", remote_updated_at=(won_at + dt.timedelta(days=1)).isoformat())])
    assert Deal.objects.get(pk=deal_id).closed_at is None


def test_amount_base_converts_with_the_stored_rate_and_stays_empty_without_one(conn, upsert_path):
    CurrencyRate.objects.create(
        organization_id=conn.organization_id,
        currency="EUR",
        rate_to_base=Decimal("1.1"),
        valid_from=dt.date(2025, 1, 1),
    )
    ids = _upsert(
        conn,
        [
            _deal(external_id="usd", amount="100"),
            _deal(external_id="eur", amount="100", currency="EUR"),
            _deal(external_id="gbp", amount="100", currency="GBP"),
            _deal(external_id="none", amount=None),
        ],
    ).ids_by_external_id
    base = dict(Deal.objects.values_list("external_id", "amount_base"))
    assert base == {"usd": Decimal("100.00"), "eur": Decimal("110.00"), "gbp": None, "none": None}
    assert set(ids) == set(base)


def test_snapshot_rebuilds_each_field_as_it_was(conn, upsert_path):
    PipelineStage.objects.create(
        organization_id=conn.organization_id, pipeline="default", stage="qualified", probability=0.2
    )
    OwnerTeam.objects.create(organization_id=conn.organization_id, owner_email="bo@example.com", team="East")
    deal_id = _upsert(conn, [_deal()]).ids_by_external_id["D1"]
    t1, t2 = T0 + dt.timedelta(days=10), T0 + dt.timedelta(days=30)
    _upsert(conn, [_deal(close_date="2026-04-30", amount="1500", remote_updated_at=t1.isoformat())])
    moved = {"close_date": "2026-04-30", "amount": "1500", "stage": "proposal", "owner_email": "bo@example.com"}
    _upsert(conn, [_deal(**moved, remote_updated_at=t2.isoformat())])

    before = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=T0 + dt.timedelta(days=5))
    assert [(s.deal_id, s.stage, s.amount, s.close_date, s.owner_email) for s in before] == [
        (deal_id, "qualified", Decimal("1000.00"), dt.date(2026, 3, 31), "ana@example.com")
    ]
    assert before[0].stage_probability == 0.2 and before[0].days_in_stage == 5 and before[0].close_date_pushes == 0

    after = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=t2 + dt.timedelta(days=1))[0]
    assert (after.stage, after.amount, after.close_date, after.team) == (
        "proposal",
        Decimal("1500.00"),
        dt.date(2026, 4, 30),
        "East",
    )
    assert (after.stage_changes, after.close_date_pushes, after.days_in_stage, after.stage_probability) == (
        1,
        1,
        1,
        None,
    )
    assert deal_snapshots_as_of(organization_id=conn.organization_id, as_of=T0 - dt.timedelta(days=1)) == []


def test_snapshot_leaves_out_deals_closed_by_then_unless_asked(conn, upsert_path):
    won_at = T0 + dt.timedelta(days=3)
    _upsert(conn, [_deal()])
    _upsert(conn, [_deal(status="won", remote_updated_at=won_at.isoformat())])
    org = conn.organization_id
    assert len(deal_snapshots_as_of(organization_id=org, as_of=won_at - dt.timedelta(hours=1))) == 1
    assert deal_snapshots_as_of(organization_id=org, as_of=won_at) == []
    closed = deal_snapshots_as_of(organization_id=org, as_of=won_at, include_closed=True)
    assert [s.status for s in closed] == ["won"]


def test_webhook_source_and_backfill_replace_the_reported_fields(conn):
    with deal_history_source(DealHistory.Source.WEBHOOK):
        deal_id = _upsert(conn, [_deal()]).ids_by_external_id["D1"]
    assert {source for *_, source in _history(deal_id)} == {"webhook"}

    changes = [
        FieldChange("stage", "appointment", T0 - dt.timedelta(days=40)),
        FieldChange("stage", "qualified", T0 - dt.timedelta(days=20)),
        FieldChange("stage", "qualified", T0 - dt.timedelta(days=19)),  # repeated value: no change
    ]
    for _ in range(2):  # idempotent
        assert deal_history_backfill(organization_id=conn.organization_id, deal_id=deal_id, changes=changes) == 2
    stage_rows = DealHistory.objects.filter(deal_id=deal_id, field="stage").values_list("old_value", "new_value")
    assert list(stage_rows) == [("", "appointment"), ("appointment", "qualified")]
    assert DealHistory.objects.filter(deal_id=deal_id, field="amount", source="webhook").exists()
    with pytest.raises(ValueError, match="not a tracked deal field"):
        deal_history_backfill(organization_id=conn.organization_id, deal_id=deal_id, changes=[FieldChange("x", "", T0)])


def test_several_origins_at_once_match_one_at_a_time(conn):
    _upsert(conn, [_deal(), _deal(external_id="D2", stage="proposal")])
    later = (T0 + dt.timedelta(days=9)).isoformat()
    _upsert(
        conn,
        [
            _deal(stage="proposal", remote_updated_at=later),
            _deal(external_id="D2", status="lost", remote_updated_at=later),
        ],
    )
    Deal.objects.filter(external_id="D2").update(deleted_at=T0 + dt.timedelta(days=20))
    origins = [
        T0 - dt.timedelta(days=1),
        T0 + dt.timedelta(days=3),
        T0 + dt.timedelta(days=10),
        T0 + dt.timedelta(days=30),
    ]
    together = deal_snapshots_at(organization_id=conn.organization_id, as_of_list=origins, include_closed=True)
    for as_of in origins:
        alone = deal_snapshots_as_of(organization_id=conn.organization_id, as_of=as_of, include_closed=True)
        assert together[as_of] == alone
    assert [len(together[as_of]) for as_of in origins] == [0, 2, 2, 1]  # D2 deleted by the last origin
