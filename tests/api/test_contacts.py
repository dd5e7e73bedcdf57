"""Contact list filters, score ordering with unscored contacts last, and the detail's reasons."""

import pytest

from ml.models import Task
from salesai.core.models import Contact
from tests.api.conftest import ids
from tests.factories import ContactFactory, PredictionFactory


@pytest.fixture
def scored(tenant_a):
    """Three scored contacts (20, 90, 55) and two unscored ones in organisation A."""
    org = tenant_a.organization
    tenant_a.prediction.delete()  # the fixture contact stays unscored
    low = ContactFactory(organization=org, lifecycle_stage=Contact.LifecycleStage.MQL)
    high = ContactFactory(organization=org, lead_source="Webinar", company=tenant_a.company)
    mid = ContactFactory(organization=org)
    unscored = ContactFactory(organization=org)
    for contact, probability in ((low, 0.2), (high, 0.9), (mid, 0.55)):
        PredictionFactory(
            organization=org, contact=contact, model_version=tenant_a.model_version, probability=probability
        )
    # History must not count: an older, non-current prediction of `unscored`.
    PredictionFactory(
        organization=org, contact=unscored, model_version=tenant_a.model_version, probability=0.99, is_current=False
    )
    return {"low": low, "high": high, "mid": mid, "unscored": unscored, "plain": tenant_a.contact}


def test_order_by_score_descending_puts_unscored_last(api_manager, scored):
    response = api_manager.get("/api/v1/contacts/", {"ordering": "-current_score"})

    listed = ids(response)
    assert listed[:3] == [scored["high"].id, scored["mid"].id, scored["low"].id]
    assert set(listed[3:]) == {scored["unscored"].id, scored["plain"].id}
    assert response.json()["results"][0]["current_score"] == 90
    assert response.json()["results"][-1]["current_score"] is None


def test_order_by_score_ascending_also_puts_unscored_last(api_manager, scored):
    listed = ids(api_manager.get("/api/v1/contacts/", {"ordering": "current_score"}))

    assert listed[:3] == [scored["low"].id, scored["mid"].id, scored["high"].id]
    assert set(listed[3:]) == {scored["unscored"].id, scored["plain"].id}


def test_filters(api_manager, scored, tenant_a):
    def listed(**params):
        return set(ids(api_manager.get("/api/v1/contacts/", params)))

    assert listed(has_score="true") == {scored["low"].id, scored["mid"].id, scored["high"].id}
    assert listed(has_score="false") == {scored["unscored"].id, scored["plain"].id}
    assert listed(min_score=50) == {scored["mid"].id, scored["high"].id}
    assert listed(lifecycle_stage="mql") == {scored["low"].id}
    assert listed(lead_source="webinar") == {scored["high"].id}
    assert listed(company=tenant_a.company.id) == {scored["high"].id, scored["plain"].id}


def test_search_by_name_email_and_company(api_manager, scored, tenant_a):
    high = scored["high"]

    assert ids(api_manager.get("/api/v1/contacts/", {"search": high.email})) == [high.id]
    by_name = ids(api_manager.get("/api/v1/contacts/", {"search": f"{high.first_name} {high.last_name}"}))
    assert high.id in by_name
    by_company = set(ids(api_manager.get("/api/v1/contacts/", {"search": tenant_a.company.name})))
    assert by_company == {high.id, scored["plain"].id}


def test_unknown_ordering_field_is_ignored_not_an_error(api_manager, scored):
    response = api_manager.get("/api/v1/contacts/", {"ordering": "properties"})
    assert response.status_code == 200


def test_detail_includes_current_prediction_with_factors(api_manager, tenant_a):
    response = api_manager.get(f"/api/v1/contacts/{tenant_a.contact.id}/")

    body = response.json()
    assert body["current_score"] == tenant_a.prediction.score
    prediction = body["current_prediction"]
    assert prediction["id"] == tenant_a.prediction.id
    assert prediction["task"] == Task.LEAD_CONVERSION
    assert prediction["probability"] == pytest.approx(tenant_a.prediction.probability)
    assert prediction["model_version"]["version"] == tenant_a.model_version.version
    assert [(f["label"], f["direction"]) for f in prediction["top_factors"]] == [
        ("Lead source = Referral", "+"),
        ("No activity for 30 days", "-"),
    ]


def test_detail_of_unscored_contact_has_null_prediction(api_manager, tenant_a):
    unscored = ContactFactory(organization=tenant_a.organization)

    body = api_manager.get(f"/api/v1/contacts/{unscored.id}/").json()

    assert body["current_prediction"] is None
    assert body["current_score"] is None


def test_soft_deleted_contacts_are_hidden(api_manager, tenant_a):
    from django.utils import timezone

    gone = ContactFactory(organization=tenant_a.organization, deleted_at=timezone.now())

    assert gone.id not in ids(api_manager.get("/api/v1/contacts/"))
    assert api_manager.get(f"/api/v1/contacts/{gone.id}/").status_code == 404


def test_activities_filter_by_contact_and_kind(api_manager, tenant_a):
    from tests.factories import ActivityFactory

    call = ActivityFactory(organization=tenant_a.organization, contact=tenant_a.contact, kind="call")
    other = ActivityFactory(organization=tenant_a.organization, kind="call")

    assert set(ids(api_manager.get("/api/v1/activities/", {"contact": tenant_a.contact.id}))) == {
        tenant_a.activity.id,
        call.id,
    }
    assert set(ids(api_manager.get("/api/v1/activities/", {"kind": "call"}))) == {call.id, other.id}


def test_score_comes_from_the_lead_task_only_and_each_contact_is_listed_once(api_manager, scored, tenant_a):
    # A current prediction of another task (a deal-win prediction naming the contact) joins nothing in.
    PredictionFactory(
        organization=tenant_a.organization,
        contact=scored["low"],
        model_version=tenant_a.model_version,
        task=Task.DEAL_WIN,
        probability=0.97,
    )

    response = api_manager.get("/api/v1/contacts/", {"ordering": "-current_score"})

    listed = ids(response)
    assert len(listed) == len(set(listed)) == response.json()["count"]
    scores = {row["id"]: row["current_score"] for row in response.json()["results"]}
    assert scores[scored["low"].id] == 20


def test_list_queries_do_not_grow_with_the_page(api_manager, scored, tenant_a, django_assert_max_num_queries):
    with django_assert_max_num_queries(8) as few:
        api_manager.get("/api/v1/contacts/", {"ordering": "-current_score"})
    for _ in range(20):
        PredictionFactory(organization=tenant_a.organization, model_version=tenant_a.model_version)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api_manager.get("/api/v1/contacts/", {"ordering": "-current_score"})

    assert response.json()["count"] == len(scored) + 20


@pytest.mark.parametrize(
    "params",
    [
        {"ordering": "-current_score"},
        {"ordering": "current_score", "search": "a"},
        {"ordering": "-current_score", "min_score": 50},
        {"has_score": "true"},
        {"has_score": "false", "ordering": "-current_score"},
    ],
)
def test_count_matches_the_listed_rows_with_and_without_score_filters(api_manager, scored, params):
    response = api_manager.get("/api/v1/contacts/", {**params, "page_size": 500})

    assert response.status_code == 200
    assert response.json()["count"] == len(ids(response))
