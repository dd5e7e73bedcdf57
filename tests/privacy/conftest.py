"""A person with data in every table that can hold it, a namesake in another tenant, and bystanders."""

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from crm_connectors.models import ScoreWrite, SyncRun, WebhookEvent
from ml.models import GeneratedEmail, PendingScoring, TextEmbedding
from tests.factories import (
    ActivityFactory,
    ContactFactory,
    CRMConnectionFactory,
    FeedbackFactory,
    OrganizationFactory,
    PredictionFactory,
    SyncRunFactory,
)

EMAIL = "ada.lovelace@analytical.test"
THEIR_TEXT = "I am Ada and I want the enterprise plan for my engines"
BYSTANDER_TEXT = "Grace here, please call me back about the invoice"


def text_key(subject: str, body: str) -> str:
    # Mirrors ml.features.text.activity_text + ml.engine.text_encoder.text_sha256 on purpose: the test must not
    # reuse the code under test to decide which cache rows are theirs.
    text = "\n".join(part.strip() for part in (subject, body) if part and part.strip())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedding(digest: str) -> TextEmbedding:
    return TextEmbedding.objects.create(content_sha256=digest, encoder="all-MiniLM-L6-v2", dim=1, vector=b"\0\0\0\0")


@dataclass
class World:
    organization: Any
    connection: Any
    other_connection: Any
    contact: Any
    duplicate: Any  # the same person under another connection of the organisation
    bystander: Any
    namesake: Any  # the same email in another organisation: not the same data controller's person
    company_prediction: Any


@pytest.fixture
def world(db) -> World:
    organization = OrganizationFactory(slug="acme")
    connection = CRMConnectionFactory(organization=organization, name="hubspot")
    other_connection = CRMConnectionFactory(organization=organization, name="csv")
    contact = ContactFactory(
        organization=organization,
        connection=connection,
        external_id="P1",
        first_name="Ada",
        last_name="Lovelace",
        email=EMAIL,
    )
    duplicate = ContactFactory(
        organization=organization,
        connection=other_connection,
        external_id="row-7",
        company=contact.company,
        email=EMAIL.upper(),
    )
    bystander = ContactFactory(
        organization=organization,
        connection=connection,
        external_id="P2",
        company=contact.company,
        first_name="Grace",
        email="grace@navy.test",
    )
    namesake = ContactFactory(organization=OrganizationFactory(slug="globex"), email=EMAIL, external_id="P1")

    ActivityFactory(organization=organization, contact=contact, subject="Hello", body=THEIR_TEXT)
    ActivityFactory(organization=organization, contact=duplicate, subject="", body="Second channel note")
    ActivityFactory(organization=organization, contact=bystander, subject="Invoice", body=BYSTANDER_TEXT)
    for subject, body in (("Hello", THEIR_TEXT), ("", "Second channel note"), ("Invoice", BYSTANDER_TEXT)):
        embedding(text_key(subject, body))

    prediction = PredictionFactory(organization=organization, contact=contact)
    FeedbackFactory(prediction=prediction, reason="Ada told me she is buying")
    PredictionFactory(organization=organization, contact=bystander)
    company_prediction = PredictionFactory(
        organization=organization,
        contact=None,
        company=contact.company,
        task="churn",
        model_version=prediction.model_version,
        top_factors=[{"label": f"Note: {THEIR_TEXT}", "direction": "+"}, {"label": "Seats fell", "direction": "+"}],
    )
    GeneratedEmail.objects.create(
        organization=organization, contact=contact, intent="first_touch", subject="Hi Ada", body="Dear Ada"
    )
    ScoreWrite.objects.create(
        connection=connection, contact=contact, external_id="P1", score=50, probability=0.5, status="written"
    )
    PendingScoring.objects.create(organization=organization, contact_id=contact.pk)

    WebhookEvent.objects.create(
        connection=connection, event_id="e-1", payload=[{"objectId": "P1", "x": 1}], headers={"X-Signature": "s"}
    )
    WebhookEvent.objects.create(connection=connection, event_id="e-2", payload={"current": {"email": EMAIL.title()}})
    WebhookEvent.objects.create(connection=connection, event_id="e-3", payload=[{"objectId": "P2"}])
    SyncRunFactory(
        connection=other_connection,
        status=SyncRun.Status.PARTIAL,
        failed=2,
        errors=[
            {"object": "contacts", "line": 3, "external_id": "row-7", "reason": f"'{EMAIL}x' is not an email"},
            {"object": "contacts", "line": 4, "external_id": "row-8", "reason": "'bob@' is not an email address"},
        ],
        error_summary=f"2 record(s) rejected. First: contacts: '{EMAIL}x' is not an email",
    )
    return World(
        organization, connection, other_connection, contact, duplicate, bystander, namesake, company_prediction
    )
