from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from salesai.core.models import Membership
from tests.api.conftest import Tenant, fake_connector, make_tenant  # noqa: F401 (fixture)
from tests.factories import MembershipFactory


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return make_tenant("globex")


def staff_client(tenant: Tenant, role: str = Membership.Role.MANAGER) -> tuple[Client, Any]:
    """A non-superuser staff member of `tenant` with every permission on the project's models."""
    user = MembershipFactory(organization=tenant.organization, role=role).user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["core", "crm_connectors", "ml"]))
    client = Client()
    client.force_login(user)
    return client, user
