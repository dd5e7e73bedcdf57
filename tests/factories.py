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


# --- ML and sync rows (appended for API/dashboard/admin tests) ------------------------------------------
from crm_connectors.models import SyncRun  # noqa: E402
from ml.models import Feedback, ModelVersion, Prediction, Task  # noqa: E402


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    connection = factory.SubFactory(CRMConnectionFactory)
    mode = SyncRun.Mode.INCREMENTAL
    status = SyncRun.Status.SUCCEEDED
    created = 10
    updated = 2
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    finished_at = factory.LazyFunction(timezone.now)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    organization = factory.SubFactory(OrganizationFactory)
    task = Task.LEAD_CONVERSION
    version = factory.Sequence(lambda n: n + 1)
    status = ModelVersion.Status.CANDIDATE
    architecture = "tabular-transformer"
    artifact_path = factory.LazyAttribute(lambda mv: f"{mv.organization.slug}/{mv.task}/v{mv.version}.pt")
    metrics = factory.LazyFunction(lambda: {"roc_auc": 0.81, "pr_auc": 0.42, "brier": 0.11, "ece": 0.02})
    trained_rows = 4000


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    organization = factory.SubFactory(OrganizationFactory)
    model_version = factory.SubFactory(ModelVersionFactory, organization=factory.SelfAttribute("..organization"))
    contact = factory.SubFactory(ContactFactory, organization=factory.SelfAttribute("..organization"))
    task = Task.LEAD_CONVERSION
    probability = 0.5
    score = factory.LazyAttribute(lambda p: round(p.probability * 100))
    top_factors = factory.LazyFunction(
        lambda: [
            {"feature": "lead_source", "label": "Lead source = Referral", "direction": "+", "weight": 0.12},
            {"feature": "days_since_activity", "label": "No activity for 30 days", "direction": "-", "weight": 0.05},
        ]
    )
    is_current = True


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    prediction = factory.SubFactory(PredictionFactory)
    organization = factory.SelfAttribute("prediction.organization")
    user = factory.SubFactory(UserFactory)
    verdict = Feedback.Verdict.AGREE
