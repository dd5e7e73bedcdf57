"""Erasing a person removes them from every table, keeps bystanders and other tenants intact, and is audited;
the export holds everything about them."""

import json

import pytest

from crm_connectors.models import ScoreWrite, SyncRun, WebhookEvent
from ml.models import Feedback, GeneratedEmail, PendingScoring, Prediction, TextEmbedding
from salesai.core.models import Activity, AuditLogEntry, Contact, ErasedPerson
from salesai.privacy.selectors import PersonNotFound
from salesai.privacy.services import person_data_export, person_erase
from tests.factories import DealFactory, UserFactory
from tests.privacy.conftest import BYSTANDER_TEXT, EMAIL, THEIR_TEXT, text_key


def test_erase_by_email_removes_the_person_from_every_table(world):
    deal = DealFactory(organization=world.organization, contact=world.contact, company=world.contact.company)
    actor = UserFactory()

    report = person_erase(organization_id=world.organization.id, email=EMAIL.upper(), actor_id=actor.id)

    assert not Contact.objects.filter(pk__in=[world.contact.pk, world.duplicate.pk]).exists()
    assert report.contacts == 2 and report.activities == 2
    assert not Activity.objects.filter(body__in=[THEIR_TEXT, "Second channel note"]).exists()
    assert not Prediction.objects.filter(contact_id=world.contact.pk).exists()
    assert not Feedback.objects.filter(reason__contains="Ada").exists()
    assert not GeneratedEmail.objects.exists() and not ScoreWrite.objects.exists()
    assert not PendingScoring.objects.filter(contact_id=world.contact.pk).exists()
    # Text-embedding cache: their texts' rows gone, the bystander's kept.
    assert not TextEmbedding.objects.filter(content_sha256=text_key("Hello", THEIR_TEXT)).exists()
    assert not TextEmbedding.objects.filter(content_sha256=text_key("", "Second channel note")).exists()
    assert TextEmbedding.objects.filter(content_sha256=text_key("Invoice", BYSTANDER_TEXT)).exists()
    # Webhook payloads naming them (by CRM id or by email, any case) are redacted; others untouched.
    events = {e.event_id: e for e in WebhookEvent.objects.all()}
    assert EMAIL not in json.dumps(events["e-2"].payload).lower() and '"P1"' not in json.dumps(events["e-1"].payload)
    assert events["e-1"].headers == {} and events["e-1"].status == WebhookEvent.Status.PROCESSED
    assert events["e-3"].payload == [{"objectId": "P2"}]
    # Sync error reports: their entry and their address gone, the other row's error kept.
    run = SyncRun.objects.get(connection=world.other_connection)
    assert [entry["external_id"] for entry in run.errors] == ["row-8"]
    assert EMAIL not in run.error_summary.lower()
    # The churn reason that quoted them is gone; the other reason stays.
    world.company_prediction.refresh_from_db()
    assert world.company_prediction.top_factors == [{"label": "Seats fell", "direction": "+"}]
    # The deal is the company's: it stays, unlinked.
    deal.refresh_from_db()
    assert deal.contact_id is None
    # Bystanders and the other tenant's person with the same address are untouched.
    assert Contact.objects.filter(pk__in=[world.bystander.pk, world.namesake.pk]).count() == 2
    assert Prediction.objects.filter(contact=world.bystander).exists()
    # Tombstones hold no personal data; the audit entry says who, with counts only.
    assert ErasedPerson.objects.filter(organization=world.organization).count() == 3
    assert not any(
        EMAIL in str(value).lower() for value in ErasedPerson.objects.values_list("external_id", "email_sha256")
    )
    entry = AuditLogEntry.objects.get(action="person.erase")
    assert (entry.actor_id, entry.organization_id) == (actor.id, world.organization.id)
    assert entry.detail["contacts"] == 2 and EMAIL not in json.dumps(entry.detail).lower()


def test_erase_by_contact_id_takes_the_same_persons_other_contacts_too(world):
    person_erase(organization_id=world.organization.id, contact_id=world.duplicate.pk)

    assert not Contact.objects.filter(email__iexact=EMAIL, organization=world.organization).exists()


def test_another_organisations_contact_is_not_found(world):
    with pytest.raises(PersonNotFound):
        person_erase(organization_id=world.organization.id, contact_id=world.namesake.pk)
    with pytest.raises(PersonNotFound):
        person_data_export(organization_id=world.organization.id, email="nobody@nowhere.test")

    assert Contact.objects.filter(pk=world.namesake.pk).exists()
    assert not AuditLogEntry.objects.exists()


def test_export_holds_everything_about_the_person_and_is_audited(world):
    actor = UserFactory()

    data = person_data_export(organization_id=world.organization.id, email=EMAIL, actor_id=actor.id)

    text = json.dumps(data)
    assert {c["id"] for c in data["contacts"]} == {world.contact.pk, world.duplicate.pk}
    assert THEIR_TEXT in text and "Second channel note" in text and BYSTANDER_TEXT not in text
    assert data["predictions"][0]["top_factors"] and data["feedback"][0]["reason"] == "Ada told me she is buying"
    assert data["email_drafts"][0]["subject"] == "Hi Ada" and data["score_writes"]
    assert {e["event_id"] for e in data["webhook_events"]} == {"e-1", "e-2"}
    assert [entry["external_id"] for run in data["sync_errors"] for entry in run["errors"]] == ["row-7"]
    assert data["erased"] is False
    assert AuditLogEntry.objects.get(action="person.export").actor_id == actor.id
    assert Contact.objects.filter(pk=world.contact.pk).exists()  # an export changes nothing
