import uuid

import pytest

from crm_connectors.pipedrive.connector import PipedriveConnector
from crm_connectors.services import connection_create
from tests.crm_connectors.pipedrive.fake_server import FakePipedrive
from tests.factories import OrganizationFactory

# Generous enough that the token bucket never waits in tests that are not about it.
FAST_BUDGET = {"token_rate_per_second": 1_000_000, "token_burst": 1_000_000}


class FakeTime:
    """A monotonic clock that only moves when something sleeps; remembers every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(PipedriveConnector, "sleep", fake.sleep)
    monkeypatch.setattr(PipedriveConnector, "clock", fake.clock)
    return fake


@pytest.fixture
def fake(fake_time):
    # A fresh token per test keeps the process-wide rate budget of one test from leaking into another.
    with FakePipedrive(api_token=f"pd-{uuid.uuid4().hex}") as server:
        yield server


@pytest.fixture
def pipedrive_connection(db, fake):
    def create(*, credentials: dict | None = None, **config):
        return connection_create(
            organization=OrganizationFactory(),
            kind="pipedrive",
            name="pipedrive",
            config={"base_url": fake.url, "page_size": 2, **FAST_BUDGET, **config},
            credentials=credentials or {"token": fake.api_token},
        )

    return create


def seed_small(fake: FakePipedrive) -> dict[str, list[int]]:
    """3 organizations, 5 persons, 6 deals, 6 activities, 3 notes: every list spans several pages of 2."""
    return fake.seed(organizations=3, persons=5, deals=6, activities=6, notes=3)
