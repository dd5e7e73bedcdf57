"""POST /api/v1/privacy/export/ and /erase/: organisation admins only, another tenant's person is a 404."""

import pytest

from salesai.core.models import AuditLogEntry, Contact, Membership
from tests.api.conftest import client_for, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_admin(tenant_a):
    return client_for(member(tenant_a.organization, Membership.Role.ADMIN))


def test_export_by_contact_id(api_admin, tenant_a):
    response = api_admin.post("/api/v1/privacy/export/", {"contact": tenant_a.contact.id}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body["contacts"]] == [tenant_a.contact.id]
    assert body["activities"][0]["id"] == tenant_a.activity.id and body["predictions"]
    assert AuditLogEntry.objects.filter(action="person.export", organization=tenant_a.organization).exists()


def test_erase_by_email_in_a_named_organisation(api_admin, tenant_a):
    response = api_admin.post(
        "/api/v1/privacy/erase/",
        {"organization": tenant_a.organization.slug, "email": tenant_a.contact.email},
        format="json",
    )

    assert response.status_code == 200 and response.json()["contacts"] == 1
    assert not Contact.objects.filter(pk=tenant_a.contact.id).exists()
    entry = AuditLogEntry.objects.get(action="person.erase")
    assert entry.actor_id == response.wsgi_request.user.id


@pytest.mark.parametrize(
    "body_of",
    [
        lambda b: {"contact": b.contact.id},
        lambda b: {"organization": b.organization.slug, "email": b.contact.email},
        lambda b: {"organization": b.organization.id, "contact": b.contact.id},
    ],
)
@pytest.mark.parametrize("verb", ["export", "erase"])
def test_another_organisations_person_is_a_404(api_admin, tenant_b, body_of, verb):
    response = api_admin.post(f"/api/v1/privacy/{verb}/", body_of(tenant_b), format="json")

    assert response.status_code == 404
    assert Contact.objects.filter(pk=tenant_b.contact.id).exists()
    assert not AuditLogEntry.objects.exists()


def test_own_organisation_with_a_foreign_contact_id_is_a_404(api_admin, tenant_a, tenant_b):
    response = api_admin.post(
        "/api/v1/privacy/erase/",
        {"organization": tenant_a.organization.slug, "contact": tenant_b.contact.id},
        format="json",
    )

    assert response.status_code == 404 and Contact.objects.filter(pk=tenant_b.contact.id).exists()


@pytest.mark.parametrize("role", [Membership.Role.MANAGER, Membership.Role.REP])
def test_only_admins_may_export_or_erase(tenant_a, role):
    client = client_for(member(tenant_a.organization, role))

    for verb in ("export", "erase"):
        assert (
            client.post(f"/api/v1/privacy/{verb}/", {"contact": tenant_a.contact.id}, format="json").status_code == 403
        )
    assert Contact.objects.filter(pk=tenant_a.contact.id).exists()


def test_a_request_without_a_person_is_a_400(api_admin):
    assert api_admin.post("/api/v1/privacy/export/", {}, format="json").status_code == 400
