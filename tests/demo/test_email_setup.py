"""The demo organisation gets what email drafts need: a postal address for the footer and a product catalogue."""

import pytest

from ml.models import EmailSettings, ProductCatalogueEntry
from salesai.demo.services import DEMO_POSTAL_ADDRESS, DEMO_PRODUCTS, demo_email_setup
from tests.factories import OrganizationFactory


@pytest.mark.django_db
def test_demo_email_setup_is_idempotent_and_keeps_admin_changes():
    organization = OrganizationFactory(slug="demo")

    first = demo_email_setup(organization=organization)

    assert first.sender_postal_address == DEMO_POSTAL_ADDRESS
    products = ProductCatalogueEntry.objects.filter(organization=organization)
    assert sorted(products.values_list("name", flat=True)) == sorted(name for name, _, _ in DEMO_PRODUCTS)
    assert all(product.list_price is not None and product.currency == "EUR" for product in products)

    EmailSettings.objects.filter(pk=first.pk).update(sender_postal_address="Changed by an admin", backend="composer")
    ProductCatalogueEntry.objects.filter(organization=organization, name="Analytics").update(list_price=99)
    second = demo_email_setup(organization=organization)

    assert (second.pk, second.sender_postal_address, second.backend) == (first.pk, "Changed by an admin", "composer")
    assert ProductCatalogueEntry.objects.filter(organization=organization).count() == len(DEMO_PRODUCTS)
    assert ProductCatalogueEntry.objects.get(organization=organization, name="Analytics").list_price == 99
