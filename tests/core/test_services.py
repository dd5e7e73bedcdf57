import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection as db_connection

from salesai.core.models import Activity, Company, Contact, Deal, Membership, Organization
from salesai.core.services import (
    activity_bulk_upsert,
    company_bulk_upsert,
    contact_bulk_upsert,
    deal_bulk_upsert,
    membership_add,
    organization_create,
    records_reconcile,
    records_soft_delete,
)
from salesai.core.upsert import engine as upsert_engine
from tests.factories import CRMConnectionFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["orm", "postgres"])
def upsert_path(request, monkeypatch):
    """Runs a test through the generic ORM path and, on PostgreSQL, through the COPY fast path too."""
    if request.param == "postgres" and db_connection.vendor != "postgresql":
        pytest.skip("the fast path needs PostgreSQL")
    monkeypatch.setattr(upsert_engine, "POSTGRES_FAST_PATH", request.param == "postgres")
    return request.param


@pytest.fixture
def conn():
    return CRMConnectionFactory()


def _upsert(fn, conn, records):
    return fn(organization_id=conn.organization_id, connection_id=conn.pk, records=records)


# --- organizations -------------------------------------------------------------------------------------


def test_organization_create_makes_org_admin_membership_and_is_idempotent():
    result = organization_create(slug="acme", name="Acme", admin_username="boss", admin_password="s3cret-pass")

    assert result.organization_created and result.admin_user_created
    admin = result.admin_user
    assert admin.is_staff and admin.check_password("s3cret-pass")
    assert Membership.objects.get(user=admin, organization=result.organization).role == Membership.Role.ADMIN
    assert admin.has_perm("core.view_contact")

    again = organization_create(slug="acme", admin_username="boss")
    assert not again.organization_created and not again.admin_user_created
    assert again.organization.pk == result.organization.pk
    admin.refresh_from_db()
    assert admin.check_password("s3cret-pass"), "an existing admin keeps their password when none is given"
    assert Membership.objects.filter(user=admin).count() == 1

    organization_create(slug="acme", admin_username="boss", admin_password="n3w-password")
    admin.refresh_from_db()
    assert admin.check_password("n3w-password")


def test_organization_create_without_admin_and_unusable_password_for_new_admin_without_one():
    assert organization_create(slug="solo").admin_user is None
    user = organization_create(slug="solo", admin_username="nopw").admin_user
    assert not user.has_usable_password()


def test_membership_add_is_idempotent_and_updates_role():
    org, user = OrganizationFactory(), UserFactory()
    first = membership_add(organization=org, user=user, role=Membership.Role.REP)
    second = membership_add(organization=org, user=user, role=Membership.Role.MANAGER)
    assert first.pk == second.pk
    assert Membership.objects.get(pk=first.pk).role == Membership.Role.MANAGER
    with pytest.raises(ValueError):
        membership_add(organization=org, user=user, role="owner")


# --- upserts ---------------------------------------------------------------------------------------------


def test_upsert_counts_created_updated_unchanged_and_does_not_rewrite_unchanged(conn, upsert_path):
    records = [
        {"external_id": "c1", "name": "Acme", "employee_count": 10, "annual_revenue": "1000.5"},
        {"external_id": "c2", "name": "Globex", "properties": {"tier": "gold"}},
    ]
    first = _upsert(company_bulk_upsert, conn, records)
    assert (first.created, first.updated, first.unchanged, first.failed) == (2, 0, 0, 0)
    assert set(first.ids_by_external_id) == {"c1", "c2"}
    assert first.changed_ids == [first.ids_by_external_id["c1"], first.ids_by_external_id["c2"]]
    c2_stamp = Company.objects.get(external_id="c2").updated_at

    second = _upsert(
        company_bulk_upsert,
        conn,
        [
            {"external_id": "c1", "name": "Acme Corp", "employee_count": 10, "annual_revenue": Decimal("1000.50")},
            {"external_id": "c2", "name": "Globex", "properties": {"tier": "gold"}},
            {"external_id": "c3", "name": "Initech"},
        ],
    )
    assert (second.created, second.updated, second.unchanged) == (1, 1, 1)
    assert second.ids_by_external_id["c2"] == first.ids_by_external_id["c2"]
    assert second.changed_ids == [second.ids_by_external_id["c1"], second.ids_by_external_id["c3"]]
    assert Company.objects.get(external_id="c2").updated_at == c2_stamp
    acme = Company.objects.get(external_id="c1")
    assert acme.name == "Acme Corp" and acme.annual_revenue == Decimal("1000.50")
    assert Company.objects.filter(connection=conn).count() == 3

    third = _upsert(company_bulk_upsert, conn, records)  # same data again: idempotent
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)  # c1's name goes back
    assert _upsert(company_bulk_upsert, conn, records).unchanged == 2


def test_absent_fields_are_kept_and_present_blank_fields_cleared(conn, upsert_path):
    _upsert(contact_bulk_upsert, conn, [{"external_id": "p1", "first_name": "Ada", "email": "ada@x.test"}])
    result = _upsert(contact_bulk_upsert, conn, [{"external_id": "p1", "first_name": "Ada"}])
    assert result.unchanged == 1
    result = _upsert(contact_bulk_upsert, conn, [{"external_id": "p1", "email": ""}])
    assert result.updated == 1
    contact = Contact.objects.get(external_id="p1")
    assert (contact.first_name, contact.email) == ("Ada", "")


def test_parents_resolve_within_the_connection_and_unknown_parent_is_a_row_error(conn, upsert_path):
    other = CRMConnectionFactory(organization=conn.organization)
    _upsert(company_bulk_upsert, conn, [{"external_id": "co", "name": "Acme"}])
    _upsert(company_bulk_upsert, other, [{"external_id": "elsewhere", "name": "Other"}])

    result = _upsert(
        contact_bulk_upsert,
        conn,
        [
            {"external_id": "a", "company_external_id": "co", "_line": 2},
            {"external_id": "b", "company_external_id": "elsewhere", "_line": 3},
            {"external_id": "c", "company_external_id": None, "_line": 4},
        ],
    )
    assert (result.created, result.failed) == (2, 1)
    (error,) = result.errors
    assert (error.index, error.line, error.field, error.external_id) == (1, 3, "company_external_id", "b")
    assert "elsewhere" in error.reason
    assert Contact.objects.get(external_id="a").company.external_id == "co"
    assert Contact.objects.get(external_id="c").company is None

    deal = _upsert(
        deal_bulk_upsert, conn, [{"external_id": "d", "name": "Big", "contact_external_id": "a", "amount": 5}]
    )
    activity = _upsert(
        activity_bulk_upsert,
        conn,
        [{"external_id": "x", "kind": "call", "occurred_at": "2024-05-01T10:00:00Z", "deal_external_id": "d"}],
    )
    assert deal.created == 1 and activity.created == 1
    assert Activity.objects.get(external_id="x").deal.contact.external_id == "a"


def test_invalid_values_are_row_errors_and_good_rows_still_import(conn, upsert_path):
    result = _upsert(
        deal_bulk_upsert,
        conn,
        [
            {"external_id": "ok", "name": "Fine", "amount": "12.345", "close_date": "2024-02-03"},
            {"external_id": "bad-status", "name": "X", "status": "maybe"},
            {"external_id": "", "name": "no id"},
            {"external_id": "ok", "name": "duplicate"},
            {"external_id": "too-long", "name": "n" * 300},
            {"external_id": "no-name"},
            {"external_id": "bad-amount", "name": "Y", "amount": "lots"},
            {"external_id": "nul", "name": "Z", "stage": "a\x00b"},
        ],
    )
    assert result.created == 1
    reasons = {error.index: (error.field, error.reason) for error in result.errors}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 7}
    assert reasons[7] == ("stage", "contains a NUL character")
    assert reasons[1][0] == "status" and "maybe" in reasons[1][1]
    assert reasons[2][0] == "external_id"
    assert "duplicate" in reasons[3][1]
    assert reasons[4] == ("name", "longer than 255 characters")
    assert reasons[5] == ("name", "name is required")
    assert reasons[6][0] == "amount"
    deal = Deal.objects.get(external_id="ok")
    assert deal.amount == Decimal("12.35") and deal.close_date == dt.date(2024, 2, 3)
    # An existing row may be updated without its required fields.
    assert _upsert(deal_bulk_upsert, conn, [{"external_id": "ok", "stage": "won"}]).updated == 1


def test_unknown_field_is_a_programming_error(conn):
    with pytest.raises(ValueError, match="no field 'colour'"):
        _upsert(company_bulk_upsert, conn, [{"external_id": "c", "name": "A", "colour": "red"}])


def test_soft_delete_then_reimport_undeletes_as_updated(conn, upsert_path):
    _upsert(company_bulk_upsert, conn, [{"external_id": "c1", "name": "A"}, {"external_id": "c2", "name": "B"}])
    assert records_soft_delete(model=Company, connection_id=conn.pk, external_ids=["c1", "missing"]) == 1
    assert records_soft_delete(model=Company, connection_id=conn.pk, external_ids=["c1"]) == 0
    assert Company.objects.get(external_id="c1").deleted_at is not None

    both = [{"external_id": "c1", "name": "A"}, {"external_id": "c2", "name": "B"}]
    result = _upsert(company_bulk_upsert, conn, both)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Company.objects.get(external_id="c1").deleted_at is None


def test_soft_deleted_parent_is_unknown(conn, upsert_path):
    _upsert(company_bulk_upsert, conn, [{"external_id": "gone", "name": "A"}])
    records_soft_delete(model=Company, connection_id=conn.pk, external_ids=["gone"])
    result = _upsert(contact_bulk_upsert, conn, [{"external_id": "p", "company_external_id": "gone"}])
    assert result.failed == 1 and result.created == 0


def test_reconcile_soft_deletes_rows_absent_from_a_complete_id_set(conn):
    other = CRMConnectionFactory(organization=conn.organization)
    _upsert(company_bulk_upsert, conn, [{"external_id": e, "name": e} for e in ("a", "b", "c")])
    _upsert(company_bulk_upsert, other, [{"external_id": "z", "name": "z"}])

    assert records_reconcile(model=Company, connection_id=conn.pk, present_external_ids={"a"}) == 2
    live = set(Company.objects.filter(deleted_at__isnull=True).values_list("external_id", flat=True))
    assert live == {"a", "z"}
    assert records_reconcile(model=Company, connection_id=conn.pk, present_external_ids=["a"]) == 0


def test_fast_path_and_orm_path_give_identical_rows(conn, monkeypatch):
    if db_connection.vendor != "postgresql":
        pytest.skip("compares against the PostgreSQL fast path")
    twin = CRMConnectionFactory(organization=conn.organization)
    batches = [
        [
            {"external_id": "1", "email": "a@x.test", "opted_out": "yes", "remote_created_at": "2024-01-01T00:00:00"},
            {"external_id": "2", "lifecycle_stage": "lead", "properties": {"n": 1, "s": "x"}},
        ],
        [
            {"external_id": "1", "email": "a@x.test", "opted_out": True, "remote_created_at": dt.datetime(2024, 1, 1)},
            {"external_id": "2", "lifecycle_stage": "customer", "properties": {"s": "x", "n": 1}},
            {"external_id": "3", "first_name": "New", "lifecycle_stage": "nope"},
            {"external_id": "4", "first_name": "\\N", "last_name": 'Quote "x", comma\nnewline', "converted_at": None},
        ],
    ]
    outcomes = {}
    for fast, target in ((True, conn), (False, twin)):
        monkeypatch.setattr(upsert_engine, "POSTGRES_FAST_PATH", fast)
        outcomes[fast] = [
            (r.created, r.updated, r.unchanged, [(e.index, e.field) for e in r.errors])
            for r in (_upsert(contact_bulk_upsert, target, batch) for batch in batches)
        ]
    assert outcomes[True] == outcomes[False] == [(2, 0, 0, []), (1, 1, 1, [(2, "lifecycle_stage")])]
    assert Contact.objects.get(connection=conn, external_id="4").first_name == "\\N"
    fields = [
        "external_id",
        "first_name",
        "last_name",
        "converted_at",
        "email",
        "opted_out",
        "remote_created_at",
        "lifecycle_stage",
        "properties",
        "deleted_at",
    ]
    rows = {
        c.pk: list(Contact.objects.filter(connection=c).order_by("external_id").values_list(*fields))
        for c in (conn, twin)
    }
    assert rows[conn.pk] == rows[twin.pk]


@pytest.mark.parametrize("weak", ["password", "12345678", "short"])
def test_organization_create_refuses_weak_admin_passwords_and_creates_nothing(weak):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        organization_create(slug="weak", admin_username="boss", admin_password=weak, admin_email="boss@x.test")

    assert not get_user_model().objects.filter(username="boss").exists()
    assert not Organization.objects.filter(slug="weak").exists()


@pytest.mark.parametrize("slug", ["..", "a/b", "acme corp", ""])
def test_organization_create_refuses_slugs_that_are_not_plain(slug):
    """The slug names the organisation's import and model folders: `..` would be every tenant's."""
    with pytest.raises(ValidationError):
        organization_create(slug=slug)
    assert not Organization.objects.exists()
