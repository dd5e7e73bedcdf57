"""POST /api/v1/connections/<id>/test/: a real credentials check against the fake HubSpot, no secret leaks."""

import pytest

from crm_connectors import services
from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.models import CRMConnection
from crm_connectors.services import connection_create
from salesai.core.models import Membership
from tests.api.conftest import SECRET, client_for, member
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot

BAD_TOKEN = "pat-na1-wrong-token-0000-never-echo"


@pytest.fixture
def fake_hub(monkeypatch):
    monkeypatch.setattr(HubSpotConnector, "sleep", staticmethod(lambda seconds: None))  # retries not slept
    with FakeHubSpot(contacts=3, companies=1, deals=1, engagements=1) as fake:
        yield fake


def hubspot_connection(organization, fake: FakeHubSpot, token: str):
    return connection_create(
        organization=organization,
        kind="hubspot",
        name="HubSpot",
        config={"base_url": fake.url, "requests_per_second": 0, "search_requests_per_second": 0},
        credentials={"token": token},
    )


def test_a_good_token_checks_ok(api_manager, tenant_a, fake_hub):
    connection = hubspot_connection(tenant_a.organization, fake_hub, fake_hub.token)

    response = api_manager.post(f"/api/v1/connections/{connection.id}/test/")

    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True}


def test_a_bad_token_fails_with_a_reason_and_no_secret(api_manager, tenant_a, fake_hub):
    connection = hubspot_connection(tenant_a.organization, fake_hub, BAD_TOKEN)

    response = api_manager.post(f"/api/v1/connections/{connection.id}/test/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is False and body["error"]
    assert BAD_TOKEN not in response.content.decode() and fake_hub.token not in response.content.decode()


def test_reps_may_not_test_and_other_tenants_do_not_see_it(tenant_a, tenant_b, api_rep, fake_hub):
    connection = hubspot_connection(tenant_a.organization, fake_hub, fake_hub.token)
    other_manager = client_for(member(tenant_b.organization, Membership.Role.MANAGER))
    admin = client_for(member(tenant_a.organization, Membership.Role.ADMIN))

    assert api_rep.post(f"/api/v1/connections/{connection.id}/test/").status_code == 403
    assert other_manager.post(f"/api/v1/connections/{connection.id}/test/").status_code == 404
    assert admin.post(f"/api/v1/connections/{connection.id}/test/").json() == {"ok": True}


def test_an_error_echoing_the_credentials_is_scrubbed(api_manager, tenant_a, fake_connector, monkeypatch):
    def check_credentials(self):
        raise RuntimeError(f"proxy said: bad key {self.credentials['api_key']}")

    monkeypatch.setattr(fake_connector, "check_credentials", check_credentials)

    response = api_manager.post(f"/api/v1/connections/{tenant_a.connection.id}/test/")

    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": "RuntimeError: proxy said: bad key ***"}
    assert SECRET not in response.content.decode()


def test_the_service_reports_an_unknown_kind_as_a_failed_check(tenant_a):
    tenant_a.connection.kind = "no-such-crm"
    tenant_a.connection.save(update_fields=["kind"])

    check = services.connection_credentials_check(connection_id=tenant_a.connection.id)

    assert check.ok is False and "no-such-crm" in check.error


@pytest.fixture
def no_allow_list(settings):
    settings.CRM_ALLOWED_HOSTS, settings.CRM_ALLOWED_NETWORKS = [], []


def test_a_connection_to_an_internal_address_cannot_be_created(api_manager, tenant_a, fake_hub, no_allow_list):
    body = {
        "kind": "hubspot",
        "name": "Internal",
        "config": {"base_url": fake_hub.url},
        "credentials": {"token": fake_hub.token},
    }

    response = api_manager.post("/api/v1/connections/", body, format="json")

    assert response.status_code == 400
    assert "CRM_ALLOWED_HOSTS" in response.json()["error"]["fields"]["config"][0]
    assert fake_hub.requests == []


def test_a_stored_connection_to_an_internal_address_is_never_called(api_manager, tenant_a, fake_hub, no_allow_list):
    # A row saved before the guard existed: the test action must not send its token there.
    connection = CRMConnection.objects.create(
        organization=tenant_a.organization,
        kind="hubspot",
        name="Old",
        config={"base_url": fake_hub.url},
        credentials={"token": fake_hub.token},
    )

    response = api_manager.post(f"/api/v1/connections/{connection.id}/test/")

    assert response.status_code == 200
    assert response.json()["ok"] is False and "CRM_ALLOWED_HOSTS" in response.json()["error"]
    assert fake_hub.requests == [] and fake_hub.token not in response.content.decode()


def test_an_allow_listed_name_that_resolves_to_loopback_is_never_called(api_manager, tenant_a, fake_hub, settings):
    settings.CRM_ALLOWED_HOSTS, settings.CRM_ALLOWED_NETWORKS = ["localhost"], []
    port = fake_hub.url.rsplit(":", 1)[1]
    connection = connection_create(  # the name passes; its address is checked when connecting
        organization=tenant_a.organization,
        kind="hubspot",
        name="Loopback",
        config={"base_url": f"http://localhost:{port}", "requests_per_second": 0, "search_requests_per_second": 0},
        credentials={"token": fake_hub.token},
    )

    response = api_manager.post(f"/api/v1/connections/{connection.id}/test/")

    assert response.json()["ok"] is False and "resolves to" in response.json()["error"]
    assert fake_hub.requests == []
