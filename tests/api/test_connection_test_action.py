"""POST /api/v1/connections/<id>/test/: a real credentials check against the fake HubSpot, no secret leaks."""

import pytest

from crm_connectors import services
from crm_connectors.hubspot.connector import HubSpotConnector
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
        organization=organization, kind="hubspot", name="HubSpot",
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
