from typing import Any

import pytest
from django.test import Client

from salesai.core.models import Membership
from tests.api.conftest import Tenant, make_tenant
from tests.factories import MembershipFactory


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return make_tenant("globex")


@pytest.fixture
def rep_a(tenant_a: Tenant) -> Any:
    return MembershipFactory(organization=tenant_a.organization, role=Membership.Role.REP).user


@pytest.fixture
def client_a(rep_a: Any) -> Client:
    client = Client()
    client.force_login(rep_a)
    return client
