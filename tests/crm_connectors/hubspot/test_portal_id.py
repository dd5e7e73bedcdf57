"""An OAuth HubSpot connection learns its portal id (`hub_id`): app-level webhooks route events by it."""

import datetime as dt

import pytest

from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection
from crm_connectors.services import connection_create, connection_credentials_check
from crm_connectors.sync import connection_sync
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def oauth(fake: FakeHubSpot, **extra) -> dict:
    credentials = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    return {**credentials, "refresh_token": fake.refresh_token, **extra}


def valid_access_token(fake: FakeHubSpot, token: str = "still-valid") -> dict:
    fake.access_tokens[token] = fake.clock() + 3600
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    return {"access_token": token, "expires_at": expires}


def test_credentials_check_introspects_a_valid_token_and_saves_the_portal(sleeps, hub_connection):
    with FakeHubSpot(contacts=3, hub_id=4242) as fake:
        connection = hub_connection(fake, credentials=oauth(fake, **valid_access_token(fake)))
        assert connection_credentials_check(connection_id=connection.pk).ok
    assert fake.token_requests == 0  # no refresh was needed: the token was introspected instead
    assert [r.path for r in fake.requests if r.path.startswith("/oauth/")] == ["/oauth/v1/access-tokens/still-valid"]
    saved = CRMConnection.objects.get(pk=connection.pk).credentials
    assert saved["hub_id"] == 4242
    assert saved["access_token"] == "still-valid" and saved["client_secret"] == fake.client_secret


def test_a_refresh_brings_the_portal_without_introspection(sleeps, hub_connection):
    with FakeHubSpot(contacts=3, hub_id=777) as fake:
        connection = hub_connection(fake, credentials=oauth(fake))
        assert connection_credentials_check(connection_id=connection.pk).ok
    assert fake.token_requests == 1
    assert not [r for r in fake.requests if r.path.startswith("/oauth/v1/access-tokens/")]
    assert CRMConnection.objects.get(pk=connection.pk).credentials["hub_id"] == 777


def test_a_sync_saves_the_portal_too(sleeps, hub_connection):
    with FakeHubSpot(contacts=3, hub_id=4243) as fake:
        connection = hub_connection(fake, credentials=oauth(fake, **valid_access_token(fake)))
        connection_sync(connection_id=connection.pk, full=True)
    assert CRMConnection.objects.get(pk=connection.pk).credentials["hub_id"] == 4243


def test_a_failed_introspection_does_not_fail_the_check(sleeps, hub_connection):
    with FakeHubSpot(contacts=3) as fake:
        connection = hub_connection(fake, credentials=oauth(fake, **valid_access_token(fake)))
        fake.fault = lambda req: (500, {}, {"message": "down"}) if "/access-tokens/" in req.path else None
        assert connection_credentials_check(connection_id=connection.pk).ok
    assert "hub_id" not in CRMConnection.objects.get(pk=connection.pk).credentials


def test_private_app_tokens_are_not_introspected(sleeps, hub_connection):
    with FakeHubSpot(contacts=3) as fake:
        connection = hub_connection(fake)
        assert connection_credentials_check(connection_id=connection.pk).ok
    assert not [r for r in fake.requests if r.path.startswith("/oauth/")]


@pytest.mark.parametrize("app_id", [54321, "54321"])
def test_app_id_config_is_accepted(app_id):
    connection = connection_create(
        organization=OrganizationFactory(),
        kind="hubspot",
        name="hs",
        config={"app_id": app_id},
        credentials={"token": "t"},
    )
    assert connection.config["app_id"] == app_id


@pytest.mark.parametrize("app_id", ["my-app", 0, True])
def test_a_bad_app_id_is_refused(app_id):
    with pytest.raises(ConnectorError, match="app_id"):
        connection_create(
            organization=OrganizationFactory(),
            kind="hubspot",
            name="hs",
            config={"app_id": app_id},
            credentials={"token": "t"},
        )
