"""factory_boy factories for the domain, shared by every test package."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm_connectors.models import CRMConnection
from salesai.core.models import Activity, Company, Contact, Deal, Membership, Organization


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MANAGER


class CRMConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CRMConnection

    organization = factory.SubFactory(OrganizationFactory)
    kind = "csv"
    name = factory.Sequence(lambda n: f"conn-{n}")
    config = factory.LazyFunction(dict)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    organization = factory.SubFactory(OrganizationFactory)
    external_id = factory.Sequence(lambda n: f"co-{n}")
    name = factory.Faker("company")
    industry = "Software"
    employee_count = 120
    country = "DE"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    organization = factory.SubFactory(OrganizationFactory)
    company = factory.SubFactory(CompanyFactory, organization=factory.SelfAttribute("..organization"))
    external_id = factory.Sequence(lambda n: f"ct-{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"contact{n}@example.test")
    job_title = "Head of Sales"
    lead_source = "Referral"
    lifecycle_stage = Contact.LifecycleStage.LEAD
    remote_created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=60))


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    organization = factory.SubFactory(OrganizationFactory)
    company = factory.SubFactory(CompanyFactory, organization=factory.SelfAttribute("..organization"))
    external_id = factory.Sequence(lambda n: f"dl-{n}")
    name = factory.Sequence(lambda n: f"Deal {n}")
    amount = 12000
    currency = "EUR"
    stage = "proposal"
    pipeline = "default"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    organization = factory.SubFactory(OrganizationFactory)
    contact = factory.SubFactory(ContactFactory, organization=factory.SelfAttribute("..organization"))
    external_id = factory.Sequence(lambda n: f"ac-{n}")
    kind = Activity.Kind.EMAIL
    direction = Activity.Direction.INBOUND
    subject = "Re: pricing"
    body = "Thanks, can we schedule a demo next week?"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3))
