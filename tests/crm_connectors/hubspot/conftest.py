import pytest

from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.services import connection_create
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.factories import OrganizationFactory


@pytest.fixture
def sleeps(monkeypatch):
    """Retry waits are recorded, never slept."""
    waited: list[float] = []
    monkeypatch.setattr(HubSpotConnector, "sleep", staticmethod(waited.append))
    return waited


@pytest.fixture
def fake_hub(sleeps):
    with FakeHubSpot(contacts=250, companies=5, deals=12, engagements=6) as fake:
        yield fake


@pytest.fixture
def hub_connection(db):
    def create(fake: FakeHubSpot, credentials: dict | None = None, **config):
        return connection_create(
            organization=OrganizationFactory(),
            kind="hubspot",
            name="hubspot",
            # No client-side budget in tests: the fake answers instantly and retries are not slept.
            config={"base_url": fake.url, "requests_per_second": 0, "search_requests_per_second": 0, **config},
            credentials=credentials or {"token": fake.token},
        )

    return create
