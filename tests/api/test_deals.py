"""/api/v1/deals/: win probability, expected close, win-by-month and reasons; ordering with unscored deals
last; filters (bad input is a 400 with a machine-readable body); a foreign id is a 404; no query per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import client_for, ids, member
from tests.dashboard.forecast_data import REASON_TEXTS, REASONS, make_forecast_data
from tests.factories import DealFactory


@pytest.fixture
def data(tenant_a):
    return make_forecast_data(tenant_a.organization)


def test_ordering_by_win_probability_puts_unscored_deals_last(api_manager, data, tenant_a):
    response = api_manager.get("/api/v1/deals/", {"ordering": "-win_probability"})

    assert response.status_code == 200
    listed = ids(response)
    assert listed[:4] == [data.big.id, data.mid.id, data.pushed.id, data.passed.id]
    assert set(listed[4:]) == {data.won.id, data.unscored.id, tenant_a.deal.id}
    assert ids(api_manager.get("/api/v1/deals/", {"ordering": "win_probability"}))[:4] == [
        data.passed.id,
        data.pushed.id,
        data.mid.id,
        data.big.id,
    ]


def test_list_row_carries_probability_expected_close_win_by_month_and_reasons(api_manager, data):
    rows = {row["id"]: row for row in api_manager.get("/api/v1/deals/").json()["results"]}

    big = rows[data.big.id]
    prediction = data.predictions["big"]
    assert (big["win_probability"], big["win_score"]) == (0.72, 72)
    assert big["expected_close"] == prediction.details["expected_close"]
    assert big["owner_email"] == "alice@example.test" and big["slipping"] is False
    win = big["win_prediction"]
    assert [m["p"] for m in win["win_by_month"]] == [0.40, 0.62, 0.72]
    assert [round(m["p_in_month"], 2) for m in win["win_by_month"]] == [0.40, 0.22, 0.10]
    assert [f["label"] for f in win["top_factors"]] == [f["label"] for f in REASONS]
    assert [(r["text"], r["raises"]) for r in win["reasons"]] == list(
        zip(REASON_TEXTS, [True, True, False], strict=True)
    )
    assert win["model_version"]["id"] == prediction.model_version_id
    unscored = rows[data.unscored.id]
    assert (unscored["win_probability"], unscored["win_prediction"], unscored["expected_close"]) == (None, None, None)
    assert rows[data.pushed.id]["close_date_pushes"] == 2 and rows[data.pushed.id]["slipping"] is True


def test_filters_owner_pipeline_stage_status_slipping_and_probability(api_manager, data, tenant_a):
    def listed(**params):
        return set(ids(api_manager.get("/api/v1/deals/", params)))

    assert listed(owner="ALICE@example.test") == {data.big.id, data.pushed.id}
    assert listed(stage="proposal", pipeline="default") == {data.mid.id, data.passed.id, tenant_a.deal.id}
    assert listed(status="won") == {data.won.id}
    assert listed(slipping="true") == {data.passed.id, data.pushed.id}
    assert data.passed.id not in listed(slipping="false")
    assert listed(min_win_probability="0.3") == {data.big.id, data.mid.id}
    assert listed(has_score="false") == {data.won.id, data.unscored.id, tenant_a.deal.id}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "maybe"}, "status"),
        ({"min_win_probability": "lots"}, "min_win_probability"),
        ({"min_win_probability": "1.5"}, "min_win_probability"),
        ({"close_date_after": "2026-13-45"}, "close_date_after"),
        ({"slipping": "perhaps"}, "slipping"),
        ({"has_score": "yes please"}, "has_score"),
    ],
)
def test_bad_filter_input_is_a_400_naming_the_field(api_manager, data, params, field):
    response = api_manager.get("/api/v1/deals/", params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_detail_has_history_newest_first(api_manager, data):
    body = api_manager.get(f"/api/v1/deals/{data.pushed.id}/").json()

    pushes = [change for change in body["history"] if change["field"] == "close_date" and change["old_value"]]
    assert len(pushes) == 2
    assert body["history"][0]["changed_at"] >= body["history"][-1]["changed_at"]
    assert body["win_prediction"]["expected_close"] == data.predictions["pushed"].details["expected_close"]


def test_foreign_deal_is_404_and_never_listed(api_manager, data, tenant_b):
    foreign = make_forecast_data(tenant_b.organization)

    response = api_manager.get(f"/api/v1/deals/{foreign.big.id}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert foreign.big.id not in ids(api_manager.get("/api/v1/deals/", {"page_size": 500}))
    assert client_for(member(tenant_b.organization)).get(f"/api/v1/deals/{data.big.id}/").status_code == 404


def test_list_queries_do_not_grow_with_deals(api_manager, data, tenant_a):
    with CaptureQueriesContext(connection) as few:
        api_manager.get("/api/v1/deals/")
    DealFactory.create_batch(15, organization=tenant_a.organization)
    with CaptureQueriesContext(connection) as many:
        response = api_manager.get("/api/v1/deals/")

    assert response.json()["count"] == 22
    assert len(many.captured_queries) == len(few.captured_queries)


def test_schema_tags_and_summaries(api_manager):
    schema = api_manager.get("/api/schema/", {"format": "json"}).json()

    deals = schema["paths"]["/api/v1/deals/"]["get"]
    assert deals["tags"] == ["deals"] and "win probability" in deals["summary"]
    assert schema["paths"]["/api/v1/forecasts/latest/"]["get"]["tags"] == ["forecasts"]
