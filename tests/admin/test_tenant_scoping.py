"""The admin never names, offers or lets a non-superuser pick another tenant's rows or manage its people."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from salesai.core.models import Membership
from salesai.core.services import membership_add, organization_create
from tests.admin.conftest import staff_client
from tests.factories import MembershipFactory, UserFactory

FOREIGN_NAME = "Zebediah Foreignperson"


@pytest.fixture
def foreign_contact(tenant_b):
    contact = tenant_b.contact
    contact.first_name, contact.last_name = FOREIGN_NAME.split()
    contact.save()
    return contact


@pytest.fixture
def owner_client(tenant_a):
    """The staff owner `org_create` makes: not a superuser, organisation admin of acme."""
    owner = organization_create(slug=tenant_a.organization.slug, admin_username="acme-owner").admin_user
    client = Client()
    client.force_login(owner)
    return client, owner


def test_raw_id_label_of_a_foreign_row_is_not_shown_on_an_add_page(owner_client, tenant_a, foreign_contact):
    client, _ = owner_client

    foreign = client.get("/admin/core/deal/add/", {"contact": foreign_contact.id}).content.decode()
    own = client.get("/admin/core/deal/add/", {"contact": tenant_a.contact.id}).content.decode()

    assert FOREIGN_NAME not in foreign and "Zebediah" not in foreign
    assert f'value="{foreign_contact.id}"' not in foreign  # the foreign id is treated as absent
    assert str(tenant_a.contact) in own  # the label still works for the owner's own rows


def test_a_form_re_rendered_after_an_error_does_not_name_the_foreign_row(owner_client, tenant_a, foreign_contact):
    client, _ = owner_client

    response = client.post(
        "/admin/core/deal/add/",
        {
            "organization": tenant_a.organization.id,
            "external_id": "x-1",
            "name": "Sneaky",
            "status": "open",
            "contact": foreign_contact.id,
            "properties": "{}",
        },
    )

    html = response.content.decode()
    assert response.status_code == 200 and "Select a valid choice" in html
    assert "Zebediah" not in html


def test_ml_and_email_admin_raw_ids_are_scoped_too(owner_client, tenant_b, foreign_contact):
    client, _ = owner_client
    foreign_user = tenant_b.feedback.user

    pages = [
        client.get("/admin/ml/feedback/add/", {"prediction": tenant_b.prediction.id, "user": foreign_user.id}),
        client.get("/admin/ml/productcatalogueentry/add/", {"organization": tenant_b.organization.id}),
    ]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert foreign_user.username not in html and "globex" not in html.lower()


@pytest.mark.parametrize(
    ("source", "field", "foreign_attribute"),
    [
        ("core/deal", "contact", "contact"),
        ("ml/feedback", "prediction", "prediction"),
        ("crm_connectors/syncrun", "connection", "connection"),
    ],
)
def test_autocomplete_answers_only_with_own_rows(owner_client, tenant_a, tenant_b, source, field, foreign_attribute):
    client, _ = owner_client
    app_label, model_name = source.split("/")

    response = client.get(
        "/admin/autocomplete/", {"app_label": app_label, "model_name": model_name, "field_name": field, "term": ""}
    )

    if response.status_code == 200:  # 403/404 when the related admin has no search: nothing leaks either
        ids = {item["id"] for item in json.loads(response.content)["results"]}
        assert str(getattr(tenant_b, foreign_attribute).id) not in ids


def test_user_autocomplete_is_scoped(tenant_a, tenant_b):
    client, user = staff_client(tenant_a)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    foreign_user = tenant_b.feedback.user
    MembershipFactory(organization=tenant_b.organization, user=foreign_user)

    response = client.get(
        "/admin/autocomplete/", {"app_label": "ml", "model_name": "feedback", "field_name": "user", "term": ""}
    )

    assert response.status_code == 200
    ids = {item["id"] for item in json.loads(response.content)["results"]}
    assert str(user.id) in ids and str(foreign_user.id) not in ids


@pytest.fixture
def auth_staff(tenant_a):
    """An acme admin who was also given every `auth` permission."""
    client, user = staff_client(tenant_a, Membership.Role.ADMIN)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    return client, user


def test_staff_with_auth_permissions_list_only_their_organisations_users(auth_staff, tenant_a, tenant_b):
    client, _ = auth_staff
    colleague = MembershipFactory(organization=tenant_a.organization).user
    stranger = MembershipFactory(organization=tenant_b.organization).user

    html = client.get("/admin/auth/user/").content.decode()

    assert f"/admin/auth/user/{colleague.id}/change/" in html
    assert f"/admin/auth/user/{stranger.id}/change/" not in html
    assert client.get(f"/admin/auth/user/{stranger.id}/change/").status_code == 302  # like a missing row
    assert client.get(f"/admin/auth/user/{stranger.id}/password/").status_code in (302, 403, 404)


def test_staff_cannot_tick_their_own_superuser_box(auth_staff):
    client, user = auth_staff

    response = client.post(
        f"/admin/auth/user/{user.id}/change/",
        {
            "username": user.username,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [],
            "user_permissions": [],
            "date_joined_0": "2024-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    user.refresh_from_db()
    assert response.status_code in (200, 302)
    assert not user.is_superuser
    assert user.user_permissions.filter(content_type__app_label="auth").exists()  # left as it was


def test_staff_cannot_manage_someone_who_also_belongs_to_another_tenant(auth_staff, tenant_a, tenant_b):
    client, _ = auth_staff
    shared = MembershipFactory(organization=tenant_a.organization).user
    membership_add(organization=tenant_b.organization, user=shared, role=Membership.Role.REP)

    page = client.get(f"/admin/auth/user/{shared.id}/change/").content.decode()
    password = client.post(
        f"/admin/auth/user/{shared.id}/password/", {"password1": "Takeover-pass-123", "password2": "Takeover-pass-123"}
    )

    shared.refresh_from_db()
    assert 'name="username"' not in page  # shown read-only, no form to submit
    assert password.status_code == 403 and not shared.check_password("Takeover-pass-123")


def test_groups_are_the_operators(auth_staff):
    client, _ = auth_staff

    assert client.get("/admin/auth/group/").status_code == 403


def test_a_foreign_user_cannot_be_made_a_member(owner_client, tenant_a):
    client, _ = owner_client
    stranger = UserFactory()

    response = client.post(
        "/admin/core/membership/add/",
        {
            "user": stranger.id,
            "organization": tenant_a.organization.id,
            "role": "admin",
        },
    )

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Membership.objects.filter(user=stranger).exists()


def test_a_manager_cannot_promote_themselves(tenant_a):
    client, user = staff_client(tenant_a, Membership.Role.MANAGER)
    membership = Membership.objects.get(user=user)

    client.post(
        f"/admin/core/membership/{membership.id}/change/",
        {
            "user": user.id,
            "organization": tenant_a.organization.id,
            "role": "admin",
        },
    )

    membership.refresh_from_db()
    assert membership.role == Membership.Role.MANAGER


def test_staff_cannot_create_organisations(owner_client):
    client, _ = owner_client

    assert client.get("/admin/core/organization/add/").status_code == 403
