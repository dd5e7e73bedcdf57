"""Id-set reconciliation through a temporary table (reconcile.py): the sync never holds the id set."""

import logging

import pytest
from django.db import connection as db_connection

from crm_connectors.reconcile import ListedIds
from salesai.core.models import Contact
from tests.factories import ContactFactory, CRMConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    connection = CRMConnectionFactory(kind="hubspot")
    other = CRMConnectionFactory(kind="hubspot", organization=connection.organization)
    contacts = {
        external_id: ContactFactory(
            organization=connection.organization, connection=connection, external_id=external_id
        )
        for external_id in ("1", "2", "3", "4")
    }
    stranger = ContactFactory(organization=connection.organization, connection=other, external_id="9")
    return connection, contacts, stranger


def live(connection) -> list[str]:
    return sorted(
        Contact.objects.filter(connection=connection, deleted_at__isnull=True).values_list("external_id", flat=True)
    )


def test_rows_the_listing_did_not_name_are_soft_deleted(rows):
    connection, contacts, stranger = rows
    listed = ListedIds(connection_id=connection.pk, object_type="contacts")
    listed.reset()
    listed.add(["1", "3"])
    listed.add(["3", "4", "77"])  # repeats and ids we never synced are harmless
    assert listed.reconcile(model=Contact) == 1
    assert live(connection) == ["1", "3", "4"]
    stranger.refresh_from_db()
    assert stranger.deleted_at is None  # another connection's rows are not this listing's business
    listed.drop()


def test_reset_forgets_an_earlier_runs_ids(rows):
    connection, _, _ = rows
    first = ListedIds(connection_id=connection.pk, object_type="contacts")
    first.reset()
    first.add(["1", "2", "3", "4"])  # a run that crashed before its listing completed (no drop)
    again = ListedIds(connection_id=connection.pk, object_type="contacts")
    again.reset()
    again.add(["2"])
    assert again.reconcile(model=Contact) == 3
    assert live(connection) == ["2"]
    again.drop()


def test_a_table_missing_ids_deletes_nothing(rows, caplog):
    """Behind a pooler that switches sessions the table would hold only some ids: never trusted then."""
    connection, _, _ = rows
    listed = ListedIds(connection_id=connection.pk, object_type="contacts")
    listed.reset()
    listed.add(["1", "2"])
    with db_connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {listed.table} WHERE external_id = '2'")
    with caplog.at_level(logging.WARNING, logger="crm_connectors.reconcile"):
        assert listed.reconcile(model=Contact) == 0
    assert live(connection) == ["1", "2", "3", "4"]
    assert "reconciliation of connection" in caplog.text
    listed.drop()
