"""Email drafts through the API: request (202, 404, 409), read, list filters, accept / edit / reject."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from ml import tasks
from ml.email_services import email_draft_generate
from ml.models import EmailSettings, EmailSuppression, GeneratedEmail
from tests.api.conftest import client_for, ids, member
from tests.factories import ContactFactory

ADDRESS = "1 Harbour Road, Dublin"


@pytest.fixture(autouse=True)
def composer_settings(tenant_a, tenant_b) -> None:
    for tenant in (tenant_a, tenant_b):
        EmailSettings.objects.create(
            organization=tenant.organization, backend="composer", sender_postal_address=ADDRESS
        )


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(tasks.generate_email, "delay", lambda email_id: calls.append(email_id))
    return calls


def post(client: APIClient, path: str = "/api/v1/emails/", **data: Any):
    return client.post(path, data, format="json")


def requested(client: APIClient, contact_id: int, **data: Any) -> dict[str, Any]:
    response = post(client, contact=contact_id, intent=data.pop("intent", "deal_nudge"), **data)
    assert response.status_code == 202, response.content
    return response.json()


def generated(client: APIClient, contact_id: int, **data: Any) -> dict[str, Any]:
    """Request through the API, run the gpu task's service, read the draft back."""
    queued = requested(client, contact_id, **data)
    email_draft_generate(email_id=queued["id"])
    return client.get(queued["url"]).json()


def test_request_is_202_and_the_task_is_queued_on_commit(
    api_rep, rep_a, tenant_a, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            api_rep, contact=tenant_a.contact.id, intent="first_touch", options={"tone": "formal", "length": "medium"}
        )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["url"].endswith(f"/api/v1/emails/{body['id']}/")
    assert response.headers["Location"] == body["url"]
    assert enqueued == [body["id"]]
    email = GeneratedEmail.objects.get(pk=body["id"])
    assert (email.contact, email.requested_by, email.organization) == (tenant_a.contact, rep_a, tenant_a.organization)
    assert email.options == {"tone": "formal", "length": "medium"}


def test_a_generated_draft_reads_back_with_its_evidence(api_rep, tenant_a, enqueued):
    draft = generated(api_rep, tenant_a.contact.id, deal=tenant_a.deal.id)

    assert draft["status"] == "ready", draft["error"]
    assert draft["subject"] and draft["body"].rstrip().endswith(ADDRESS)
    assert draft["backend"] == "composer" and draft["model_name"] is not None
    assert draft["guardrail_report"]["passed"] is True
    assert "attempts" in draft["guardrail_report"]
    assert draft["citations"] and set(draft["citations"][0]) == {"sentence_index", "sentence", "fact_ids"}
    assert draft["deal"] == tenant_a.deal.id
    assert draft["latency_seconds"] is not None
    assert draft["fallback_used"] is False
    assert draft["rep_action"] == "" and draft["final_body"] == ""
    assert draft["organization"] == tenant_a.organization.slug


def test_unknown_and_other_organisation_contacts_are_404(api_rep, tenant_b, enqueued):
    for contact_id in (tenant_b.contact.id, 999_999):
        response = post(api_rep, contact=contact_id, intent="first_touch")

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert not GeneratedEmail.objects.exists()


@pytest.mark.parametrize("case", ["opted_out", "suppressed", "no_email_address"])
def test_contacts_that_must_not_be_emailed_are_409_with_the_reason(api_rep, tenant_a, enqueued, case):
    contact = tenant_a.contact
    if case == "opted_out":
        contact.opted_out = True
    elif case == "no_email_address":
        contact.email = ""
    else:
        EmailSuppression.objects.create(
            organization=tenant_a.organization, email=contact.email.lower(), reason="complaint"
        )
        contact.email = contact.email.upper()
    contact.save()

    response = post(api_rep, contact=contact.id, intent="first_touch")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == case
    assert error["message"]
    assert not GeneratedEmail.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"intent": "spam"}, "intent"),
        ({"intent": "renewal", "options": {"tone": "shouty"}}, "options"),
        ({"intent": "renewal", "deal": "abc"}, "deal"),
        ({}, "intent"),
    ],
)
def test_bad_input_is_400_with_field_errors(api_rep, tenant_a, enqueued, data, field):
    response = post(api_rep, contact=tenant_a.contact.id, **data)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error


def test_a_deal_of_another_organisation_is_400(api_rep, tenant_a, tenant_b, enqueued):
    response = post(api_rep, contact=tenant_a.contact.id, intent="deal_nudge", deal=tenant_b.deal.id)

    assert response.status_code == 400
    assert "deal" in response.json()["error"]["fields"]


def test_list_is_scoped_and_filters(api_rep, tenant_a, tenant_b, enqueued):
    mine = generated(api_rep, tenant_a.contact.id)
    other_contact = ContactFactory(organization=tenant_a.organization, company=tenant_a.company)
    queued = requested(api_rep, other_contact.id, intent="renewal")
    foreign = generated(client_for(member(tenant_b.organization)), tenant_b.contact.id)
    api_rep.post(f"/api/v1/emails/{mine['id']}/accept/")

    everything = ids(api_rep.get("/api/v1/emails/"))

    assert sorted(everything) == sorted([mine["id"], queued["id"]])
    assert foreign["id"] not in everything
    assert ids(api_rep.get("/api/v1/emails/", {"status": "queued"})) == [queued["id"]]
    assert ids(api_rep.get("/api/v1/emails/", {"contact": tenant_a.contact.id})) == [mine["id"]]
    assert ids(api_rep.get("/api/v1/emails/", {"rep_action": "accepted"})) == [mine["id"]]
    assert ids(api_rep.get("/api/v1/emails/", {"rep_action": "none"})) == [queued["id"]]
    assert ids(api_rep.get("/api/v1/emails/", {"intent": "renewal"})) == [queued["id"]]
    assert api_rep.get(f"/api/v1/emails/{foreign['id']}/").status_code == 404
    assert api_rep.post(f"/api/v1/emails/{foreign['id']}/accept/").status_code == 404


def test_accept_flow(api_rep, rep_a, tenant_a, enqueued):
    draft = generated(api_rep, tenant_a.contact.id)

    response = api_rep.post(f"/api/v1/emails/{draft['id']}/accept/")
    again = api_rep.post(f"/api/v1/emails/{draft['id']}/accept/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rep_action"] == "accepted"
    assert (body["final_subject"], body["final_body"]) == (draft["subject"], draft["body"])
    assert body["acted_by"] == rep_a.username
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_edit_flow_keeps_final_text_and_diff(api_rep, tenant_a, enqueued):
    draft = generated(api_rep, tenant_a.contact.id)
    new_body = draft["body"] + "\n\nP.S. I attached the slides."

    response = post(api_rep, f"/api/v1/emails/{draft['id']}/edit/", subject="Slides from our call", body=new_body)

    # "our call" is a call the CRM has no record of: shown to the rep, nothing saved yet.
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "unverified"
    assert {"sentence": "Slides from our call", "code": "invented_event"}.items() <= next(
        issue for issue in error["issues"] if issue["code"] == "invented_event"
    ).items()
    assert GeneratedEmail.objects.get(pk=draft["id"]).rep_action == ""

    response = post(
        api_rep,
        f"/api/v1/emails/{draft['id']}/edit/",
        subject="Slides from our call",
        body=new_body,
        own_words=True,
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rep_action"] == "edited" and body["sent_as_own_words"] is True
    assert body["guardrail_report"]["edit_check"]["own_words"] is True
    assert body["final_subject"] == "Slides from our call"
    assert body["final_body"] == new_body.strip()
    assert "+P.S. I attached the slides.\n" in body["edit_diff"]
    assert body["subject"] == draft["subject"]  # the draft stays as generated
    reject_after = post(api_rep, f"/api/v1/emails/{draft['id']}/reject/", reason="too late")
    assert reject_after.status_code == 409


def test_an_edit_the_verifier_grounds_is_saved_without_confirmation(api_rep, tenant_a, enqueued):
    draft = generated(api_rep, tenant_a.contact.id)
    new_body = draft["body"] + "\n\nP.S. Thanks for your time."

    response = post(api_rep, f"/api/v1/emails/{draft['id']}/edit/", subject=draft["subject"], body=new_body)

    assert response.status_code == 200, response.content
    assert response.json()["sent_as_own_words"] is False
    assert response.json()["guardrail_report"]["edit_check"]["passed"] is True


def test_edit_without_a_body_is_400(api_rep, tenant_a, enqueued):
    draft = generated(api_rep, tenant_a.contact.id)

    response = post(api_rep, f"/api/v1/emails/{draft['id']}/edit/", subject="Hi")

    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]
    assert GeneratedEmail.objects.get(pk=draft["id"]).rep_action == ""


def test_reject_flow_requires_a_reason(api_rep, tenant_a, enqueued):
    draft = generated(api_rep, tenant_a.contact.id)

    missing = post(api_rep, f"/api/v1/emails/{draft['id']}/reject/")
    response = post(api_rep, f"/api/v1/emails/{draft['id']}/reject/", reason="Tone is off for this customer")

    assert missing.status_code == 400
    assert "reason" in missing.json()["error"]["fields"]
    assert response.status_code == 200
    assert (response.json()["rep_action"], response.json()["reject_reason"]) == (
        "rejected",
        "Tone is off for this customer",
    )


def test_acting_on_a_draft_that_is_not_ready_is_409(api_rep, tenant_a, enqueued):
    queued = requested(api_rep, tenant_a.contact.id)

    response = api_rep.post(f"/api/v1/emails/{queued['id']}/accept/")

    assert response.status_code == 409
    assert "ready" in response.json()["error"]["message"]


def test_anonymous_callers_get_401(tenant_a):
    assert (
        APIClient()
        .post("/api/v1/emails/", {"contact": tenant_a.contact.id, "intent": "renewal"}, format="json")
        .status_code
        == 401
    )
