"""Every model's admin renders, and staff only ever see their own organisations' rows."""

import pytest

from tests.admin.conftest import staff_client
from tests.api.conftest import SECRET

# (admin URL prefix, Tenant attribute); organisations are checked separately.
ADMIN_MODELS = [
    ("core/membership", None),
    ("core/company", "company"),
    ("core/contact", "contact"),
    ("core/deal", "deal"),
    ("core/activity", "activity"),
    ("crm_connectors/crmconnection", "connection"),
    ("crm_connectors/syncrun", "sync_run"),
    ("crm_connectors/webhookevent", None),
    ("ml/modelversion", "model_version"),
    ("ml/trainingrun", None),
    ("ml/prediction", "prediction"),
    ("ml/feedback", "feedback"),
]


@pytest.mark.parametrize("prefix", ["core/organization", *[prefix for prefix, _ in ADMIN_MODELS]])
def test_superuser_changelist_renders(admin_client, tenant_a, tenant_b, prefix):
    response = admin_client.get(f"/admin/{prefix}/")

    assert response.status_code == 200


@pytest.mark.parametrize(("prefix", "attribute"), [(p, a) for p, a in ADMIN_MODELS if a])
def test_superuser_change_page_renders(admin_client, tenant_a, prefix, attribute):
    response = admin_client.get(f"/admin/{prefix}/{getattr(tenant_a, attribute).id}/change/")

    assert response.status_code == 200
    assert SECRET not in response.content.decode()


@pytest.mark.parametrize(("prefix", "attribute"), [(p, a) for p, a in ADMIN_MODELS if a])
def test_staff_sees_only_their_organisations_rows(tenant_a, tenant_b, prefix, attribute):
    client, _ = staff_client(tenant_a)
    own, foreign = getattr(tenant_a, attribute), getattr(tenant_b, attribute)

    listing = client.get(f"/admin/{prefix}/")
    foreign_page = client.get(f"/admin/{prefix}/{foreign.id}/change/")

    html = listing.content.decode()
    assert listing.status_code == 200
    assert f"/admin/{prefix}/{own.id}/change/" in html
    assert f"/admin/{prefix}/{foreign.id}/change/" not in html
    assert "globex" not in html.lower()  # not even in the organisation filter sidebar
    # The admin answers a row outside the queryset like a missing one: back to the index.
    assert foreign_page.status_code == 302


def test_staff_sees_only_their_organisations(tenant_a, tenant_b):
    client, _ = staff_client(tenant_a)

    html = client.get("/admin/core/organization/").content.decode()

    assert f"/admin/core/organization/{tenant_a.organization.id}/change/" in html
    assert f"/admin/core/organization/{tenant_b.organization.id}/change/" not in html


def test_staff_raw_id_lookup_and_choices_are_scoped(tenant_a, tenant_b):
    client, _ = staff_client(tenant_a)

    # The raw-id lookup popup is the related model's changelist, scoped like any other.
    popup = client.get("/admin/core/contact/", {"_popup": "1", "_to_field": "id"}).content.decode()
    # Pointing a deal at B's contact by typing its id is rejected by the form.
    add = client.post(
        "/admin/core/deal/add/",
        {
            "organization": tenant_a.organization.id,
            "external_id": "x-1",
            "name": "Sneaky",
            "status": "open",
            "contact": tenant_b.contact.id,
            "properties": "{}",
        },
    )

    assert f"/admin/core/contact/{tenant_a.contact.id}/change/" in popup
    assert f"/admin/core/contact/{tenant_b.contact.id}/change/" not in popup
    assert add.status_code == 200  # form re-rendered with an error, nothing saved
    assert "Select a valid choice" in add.content.decode()


def test_contact_changelist_shows_the_current_score(admin_client, tenant_a):
    response = admin_client.get("/admin/core/contact/")

    html = response.content.decode()
    assert "column-current_score" in html
    assert f'<td class="field-current_score">{tenant_a.prediction.score}</td>' in html
