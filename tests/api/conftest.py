"""Two tenants with one row of everything each, and API clients for their members."""

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from crm_connectors import registry
from crm_connectors.base import ChangePage, Connector
from salesai.core.models import Membership, Organization
from tests.factories import (
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    CRMConnectionFactory,
    DealFactory,
    FeedbackFactory,
    MembershipFactory,
    ModelVersionFactory,
    OrganizationFactory,
    PredictionFactory,
    SyncRunFactory,
)

SECRET = "sk-very-secret-token-4711"


class FakeConnector(Connector):
    """A registered connector kind for API tests, independent of the real connectors' settings."""

    name = "fake"
    label = "Fake CRM"
    settings_schema = {
        "type": "object",
        "properties": {"base_url": {"type": "string"}},
        "required": ["base_url"],
    }

    def iter_changes(self, *, object_type: str, cursor: Any, full: bool) -> Any:
        yield ChangePage(object_type=object_type)


@pytest.fixture
def fake_connector(monkeypatch: pytest.MonkeyPatch) -> type[Connector]:
    monkeypatch.setitem(registry._CONNECTORS, FakeConnector.name, FakeConnector)
    return FakeConnector


@dataclass
class Tenant:
    organization: Organization
    company: Any
    contact: Any
    deal: Any
    activity: Any
    model_version: Any
    prediction: Any
    feedback: Any
    connection: Any
    sync_run: Any


def make_tenant(slug: str) -> Tenant:
    organization = OrganizationFactory(slug=slug, name=slug.title())
    company = CompanyFactory(organization=organization, name=f"{slug} GmbH")
    contact = ContactFactory(organization=organization, company=company)
    deal = DealFactory(organization=organization, company=company, contact=contact)
    activity = ActivityFactory(organization=organization, contact=contact)
    model_version = ModelVersionFactory(organization=organization)
    prediction = PredictionFactory(organization=organization, contact=contact, model_version=model_version)
    connection = CRMConnectionFactory(
        organization=organization, kind="fake", name=f"{slug}-crm", credentials={"api_key": SECRET}
    )
    return Tenant(
        organization=organization,
        company=company,
        contact=contact,
        deal=deal,
        activity=activity,
        model_version=model_version,
        prediction=prediction,
        feedback=FeedbackFactory(prediction=prediction),
        connection=connection,
        sync_run=SyncRunFactory(connection=connection),
    )


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return make_tenant("globex")


def member(organization: Organization, role: str = Membership.Role.MANAGER) -> Any:
    return MembershipFactory(organization=organization, role=role).user


@pytest.fixture
def manager_a(tenant_a: Tenant) -> Any:
    return member(tenant_a.organization, Membership.Role.MANAGER)


@pytest.fixture
def rep_a(tenant_a: Tenant) -> Any:
    return member(tenant_a.organization, Membership.Role.REP)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def api_manager(manager_a: Any) -> APIClient:
    return client_for(manager_a)


@pytest.fixture
def api_rep(rep_a: Any) -> APIClient:
    return client_for(rep_a)


def ids(response: Any) -> list[int]:
    return [row["id"] for row in response.json()["results"]]
