"""/api/v1/forecasts/: history of runs, the latest run with rows per scope and month, past accuracy; bad
query input is a 400; another organisation's forecast is a 404."""

import pytest

from tests.api.conftest import client_for, ids, member
from tests.dashboard.forecast_data import make_forecast_data


@pytest.fixture
def data(tenant_a):
    return make_forecast_data(tenant_a.organization)


def test_history_lists_runs_newest_first_and_filters_by_method(api_manager, data):
    response = api_manager.get("/api/v1/forecasts/")

    assert response.status_code == 200
    listed = ids(response)
    assert listed.index(data.stage_weighted.id) < listed.index(data.past.id)
    assert "rows" not in response.json()["results"][0]
    assert set(ids(api_manager.get("/api/v1/forecasts/", {"method": "our"}))) == {data.snapshot.id, data.past.id}


def test_latest_has_three_months_with_intervals_and_the_deals_behind_them(api_manager, data):
    body = api_manager.get("/api/v1/forecasts/latest/").json()

    assert body["id"] == data.snapshot.id and body["method"] == "our"
    org_rows = [row for row in body["rows"] if row["scope"] == "org"]
    assert [row["month"] for row in org_rows] == [month.isoformat() for month in data.months]
    first = org_rows[0]
    assert (first["expected"], first["p10"], first["p50"], first["p90"]) == (
        "61000.00",
        "20000.00",
        "55000.00",
        "110000.00",
    )
    assert first["top_deals"][0]["deal_id"] == data.big.id
    assert {row["scope"] for row in body["rows"]} == {"org", "owner", "team", "pipeline"}


def test_latest_narrows_to_one_scope_and_method(api_manager, data):
    owners = api_manager.get("/api/v1/forecasts/latest/", {"scope": "owner"}).json()["rows"]
    assert {row["scope_value"] for row in owners} == {"alice@example.test", "bob@example.test"}

    baseline = api_manager.get("/api/v1/forecasts/latest/", {"method": "stage_weighted"}).json()
    assert baseline["id"] == data.stage_weighted.id


def test_retrieve_one_run_with_rows(api_manager, data):
    past = api_manager.get(f"/api/v1/forecasts/{data.past.id}/").json()
    teams = api_manager.get(f"/api/v1/forecasts/{data.snapshot.id}/", {"scope": "team"}).json()

    assert [row["expected"] for row in past["rows"]] == ["100000.00", "70000.00"]
    assert [(row["scope_value"], row["month"]) for row in teams["rows"]] == [
        ("Enterprise", month.isoformat()) for month in data.months
    ]


def test_accuracy_per_method(api_manager, data):
    body = api_manager.get("/api/v1/forecasts/accuracy/").json()

    methods = {m["method"]: m for m in body["methods"]}
    assert round(methods["our"]["wape"], 3) == round(10000 / 90000, 3) and methods["our"]["coverage_80"] == 1.0
    assert methods["stage_weighted"]["wape"] == 1.0 and methods["stage_weighted"]["coverage_80"] is None
    ours = [row for row in body["months"] if row["method"] == "our"]
    assert [(row["actual"], row["within_80"]) for row in ours] == [("90000.00", True)]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"method": "guess"}, "method"), ({"scope": "planet"}, "scope"), ({"organization": "nope"}, "organization")],
)
def test_bad_query_input_is_a_400(api_manager, data, params, field):
    response = api_manager.get("/api/v1/forecasts/latest/", params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_no_forecast_yet_is_a_404(api_manager, tenant_a):
    response = api_manager.get("/api/v1/forecasts/latest/")

    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_another_organisations_forecast_is_invisible(api_manager, data, tenant_b):
    foreign = make_forecast_data(tenant_b.organization)

    assert api_manager.get(f"/api/v1/forecasts/{foreign.snapshot.id}/").status_code == 404
    assert foreign.snapshot.id not in ids(api_manager.get("/api/v1/forecasts/"))
    response = api_manager.get("/api/v1/forecasts/latest/", {"organization": tenant_b.organization.slug})
    assert response.status_code == 400  # the same answer as an organisation that does not exist
    assert (
        client_for(member(tenant_b.organization)).get("/api/v1/forecasts/latest/").json()["id"] == foreign.snapshot.id
    )
