"""A person erased on request never comes back through a sync, and training frames leave them out."""

import pytest
from django.db import connection as db_connection

from salesai.core.models import Activity, Contact, Deal
from salesai.core.selectors import contacts_not_erased
from salesai.core.services import (
    activity_bulk_upsert,
    contact_bulk_upsert,
    deal_bulk_upsert,
    person_tombstone_add,
)
from salesai.core.upsert import engine as upsert_engine
from tests.factories import ContactFactory, CRMConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["orm", "postgres"])
def upsert_path(request, monkeypatch):
    if request.param == "postgres" and db_connection.vendor != "postgresql":
        pytest.skip("the fast path needs PostgreSQL")
    monkeypatch.setattr(upsert_engine, "POSTGRES_FAST_PATH", request.param == "postgres")


@pytest.fixture
def erased(db):
    """Ada (P1) was erased from this connection; her address is tombstoned for the whole organisation."""
    connection = CRMConnectionFactory()
    person_tombstone_add(
        organization_id=connection.organization_id, emails=[" Ada@Example.test "], records=[(connection.pk, "P1")]
    )
    return connection


def _upsert(fn, connection, records):
    return fn(organization_id=connection.organization_id, connection_id=connection.pk, records=records)


def test_the_sync_does_not_re_import_an_erased_contact(erased, upsert_path):
    result = _upsert(
        contact_bulk_upsert,
        erased,
        [
            {"external_id": "P1", "first_name": "Ada", "email": "changed@example.test"},  # same CRM record
            {"external_id": "P9", "first_name": "Ada", "email": "ada@example.test"},  # a new record, same address
            {"external_id": "P2", "first_name": "Grace", "email": "grace@example.test"},
        ],
    )

    assert (result.created, result.erased, result.failed) == (1, 2, 0)
    assert list(Contact.objects.values_list("external_id", flat=True)) == ["P2"]


def test_their_activities_are_left_out_and_deals_lose_the_link(erased, upsert_path):
    _upsert(contact_bulk_upsert, erased, [{"external_id": "P2", "first_name": "Grace"}])

    activities = _upsert(
        activity_bulk_upsert,
        erased,
        [
            {
                "external_id": "A1",
                "kind": "note",
                "occurred_at": "2024-01-01T00:00:00Z",
                "body": "Ada's note",
                "contact_external_id": "P1",
            },
            {"external_id": "A2", "kind": "note", "occurred_at": "2024-01-01T00:00:00Z", "contact_external_id": "P2"},
        ],
    )
    deals = _upsert(deal_bulk_upsert, erased, [{"external_id": "D1", "name": "Engines", "contact_external_id": "P1"}])

    assert (activities.created, activities.erased, activities.failed) == (1, 1, 0)  # no row error either
    assert list(Activity.objects.values_list("external_id", flat=True)) == ["A2"]
    assert (deals.created, deals.failed) == (1, 0) and Deal.objects.get().contact_id is None


def test_other_organisations_are_not_affected_by_the_tombstone(erased):
    elsewhere = CRMConnectionFactory()

    result = _upsert(contact_bulk_upsert, elsewhere, [{"external_id": "P1", "email": "ada@example.test"}])

    assert result.created == 1 and result.erased == 0


def test_training_frames_leave_erased_contacts_out(erased):
    back = ContactFactory(organization=erased.organization, connection=erased, external_id="P1")
    kept = ContactFactory(organization=erased.organization, connection=erased, external_id="P2")

    remaining = contacts_not_erased(Contact.objects.filter(organization=erased.organization))

    assert list(remaining) == [kept] and back not in remaining
