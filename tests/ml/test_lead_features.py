from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ml.features.lead import (
    BASE_COLUMNS,
    email_domain_type,
    lead_default_snapshots,
    lead_feature_frame,
    lead_property_keys,
    lead_schema,
    lead_training_frame,
    title_function,
    title_seniority,
)
from salesai.core.models import Activity, Contact, Deal
from tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

AS_OF = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _contact(org, **fields):
    defaults = {"remote_created_at": AS_OF - timedelta(days=100), "converted_at": None}
    return ContactFactory(organization=org, **{**defaults, **fields})


def _activity(contact, days_before, **fields):
    return ActivityFactory(
        organization=contact.organization, contact=contact, occurred_at=AS_OF - timedelta(days=days_before), **fields
    )


def test_features_only_use_what_happened_before_as_of():
    org = OrganizationFactory()
    contact = _contact(org, job_title="VP of Sales", lead_source="Referral", email="ann@gmail.com")
    _activity(contact, 5, kind=Activity.Kind.EMAIL, direction=Activity.Direction.INBOUND)
    _activity(contact, 20, kind=Activity.Kind.EMAIL, direction=Activity.Direction.OUTBOUND)
    _activity(contact, 60, kind=Activity.Kind.MEETING, direction="")
    before = lead_feature_frame(organization_id=org.id, as_of=AS_OF)

    # Things that happen at or after as_of: activities, a new deal, a conversion, a status change.
    _activity(contact, 0, kind=Activity.Kind.EMAIL, direction=Activity.Direction.INBOUND)
    _activity(contact, -1, kind=Activity.Kind.MEETING, direction="")
    DealFactory(organization=org, contact=contact, company=contact.company, remote_created_at=AS_OF + timedelta(days=1))
    Contact.objects.filter(pk=contact.pk).update(
        converted_at=AS_OF + timedelta(days=2), lifecycle_stage="customer", lead_status="won"
    )
    after = lead_feature_frame(organization_id=org.id, as_of=AS_OF)
    pd.testing.assert_frame_equal(before, after)

    row = before.loc[contact.pk]
    assert row["email_inbound_7d"] == 1 and row["email_inbound_30d"] == 1
    assert row["email_outbound_7d"] == 0 and row["email_outbound_30d"] == 1
    assert row["meetings_30d"] == 0 and row["meetings_90d"] == 1
    assert row["days_since_last_inbound"] == pytest.approx(5)
    assert row["days_since_last_outbound"] == pytest.approx(20)
    assert row["days_since_last_activity"] == pytest.approx(5)
    assert row["days_since_created"] == pytest.approx(100)
    assert (row["lead_source"], row["title_seniority"], row["title_function"]) == ("Referral", "VP", "Sales")
    assert row["job_title"] == "vp of sales" and row["email_domain_type"] == "Free webmail"
    for leaky in ("lifecycle_stage", "lead_status", "converted_at", "status"):
        assert leaky not in before.columns


def test_open_deals_count_deals_created_before_and_not_closed_before_as_of():
    org = OrganizationFactory()
    contact = _contact(org)
    common = {"organization": org, "contact": contact, "company": contact.company}
    DealFactory(**common, amount=1000, remote_created_at=AS_OF - timedelta(days=30), status=Deal.Status.OPEN)
    # Won later: at as_of it was still open. Its outcome must not matter.
    DealFactory(
        **common,
        amount=500,
        remote_created_at=AS_OF - timedelta(days=30),
        status=Deal.Status.WON,
        close_date=(AS_OF + timedelta(days=10)).date(),
    )
    # Lost before as_of: closed, not counted.
    DealFactory(
        **common,
        amount=9999,
        remote_created_at=AS_OF - timedelta(days=60),
        status=Deal.Status.LOST,
        close_date=(AS_OF - timedelta(days=5)).date(),
    )
    row = lead_feature_frame(organization_id=org.id, as_of=AS_OF).loc[contact.pk]
    assert row["open_deals"] == 2
    assert row["open_deal_amount"] == 1500


def test_training_labels_are_conversions_within_the_horizon_after_each_snapshot():
    org = OrganizationFactory()
    snapshot = AS_OF
    soon = _contact(org, converted_at=snapshot + timedelta(days=10))
    late = _contact(org, converted_at=snapshot + timedelta(days=100))
    already = _contact(org, converted_at=snapshot - timedelta(days=1))
    not_yet_created = _contact(org, remote_created_at=snapshot + timedelta(days=1))
    never = _contact(org)
    deleted = _contact(org, deleted_at=snapshot)
    frame, labels = lead_training_frame(organization_id=org.id, snapshots=[snapshot], horizon_days=90)
    assert dict(zip(frame.index, labels, strict=True)) == {soon.pk: 1, late.pk: 0, never.pk: 0}
    assert {already.pk, not_yet_created.pk, deleted.pk}.isdisjoint(frame.index)
    assert (frame["as_of"] == snapshot).all()

    # Two snapshots: a contact appears once per snapshot it was an open lead at.
    earlier = snapshot - timedelta(days=30)
    frame, labels = lead_training_frame(organization_id=org.id, snapshots=[earlier, snapshot], horizon_days=90)
    assert list(frame.index).count(soon.pk) == 2
    assert list(labels[frame["as_of"] == earlier]) == [1, 0, 1, 0]  # "already" converted within 30 days
    assert labels.index.equals(frame.index)


def test_default_snapshots_end_a_horizon_before_the_latest_data():
    org = OrganizationFactory()
    contact = _contact(org, remote_created_at=AS_OF - timedelta(days=400))
    _activity(contact, 0)
    snapshots = lead_default_snapshots(organization_id=org.id, horizon_days=90)
    assert snapshots[-1] == AS_OF - timedelta(days=90)
    assert len(snapshots) == 6 and snapshots == sorted(snapshots)
    assert lead_default_snapshots(organization_id=OrganizationFactory().id) == []


def test_company_attributes_and_custom_properties_with_inferred_types():
    org = OrganizationFactory()
    company = CompanyFactory(
        organization=org, industry="Retail", employee_count=250, annual_revenue=1_000_000, country="France"
    )
    for i in range(10):
        _contact(
            org,
            company=company,
            properties={
                "seats": i,
                "tier": "gold" if i % 2 else "silver",
                "lifecycle_hint": "customer",
                "signup_date": "2024-01-02",
                "rare_field": "x" if i == 0 else "",
            },
        )
    frame = lead_feature_frame(organization_id=org.id, as_of=AS_OF)
    assert set(frame["company_country"]) == {"France"} and set(frame["company_industry"]) == {"Retail"}
    assert set(frame["company_employee_count"]) == {250.0}
    properties = sorted(c for c in frame.columns if c.startswith("prop__"))
    assert properties == ["prop__seats", "prop__tier"]  # leaky, date-like and sparse fields are left out
    schema = lead_schema(frame)
    assert schema.column("prop__seats").kind == "numeric" and schema.column("prop__tier").kind == "categorical"
    assert schema.column("prop__tier").label == "Tier (CRM field)"
    assert lead_property_keys(schema) == ["seats", "tier"]
    assert schema.text_columns == []  # the seam for the text model: declared, empty for now
    # A trained model asks for its own fields, even ones the contacts no longer carry.
    chosen = lead_feature_frame(organization_id=org.id, as_of=AS_OF, property_keys=["tier", "gone"])
    assert chosen["prop__gone"].isna().all() and "prop__seats" not in chosen.columns


def test_contact_ids_select_rows_and_the_schema_covers_every_base_column():
    org = OrganizationFactory()
    first, second = _contact(org), _contact(org)
    _contact(OrganizationFactory())  # another tenant's contact never leaks in
    frame = lead_feature_frame(organization_id=org.id, as_of=AS_OF, contact_ids=[second.pk])
    assert list(frame.index) == [second.pk]
    everyone = lead_feature_frame(organization_id=org.id, as_of=AS_OF)
    assert list(everyone.index) == [first.pk, second.pk]
    assert {c.name for c in BASE_COLUMNS} <= set(everyone.columns)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        lead_feature_frame(organization_id=1, as_of=datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("title", "seniority", "function"),
    [
        ("Vice President, Marketing", "VP", "Marketing"),
        ("CEO & Founder", "C-level", "Executive"),
        ("Chief Financial Officer", "C-level", "Finance"),
        ("Head of Engineering", "Director", "Engineering"),
        ("Senior Account Executive", "Individual contributor", "Sales"),
        ("HR Manager", "Manager", "People"),
        ("Gardener", "Individual contributor", "Other"),
        ("", None, None),
    ],
)
def test_job_titles_are_bucketed(title, seniority, function):
    assert title_seniority(title) == seniority
    assert title_function(title) == function


def test_email_domain_type():
    assert email_domain_type("a@Gmail.com") == "Free webmail"
    assert email_domain_type("a@acme.example") == "Corporate"
    assert email_domain_type("") is None and email_domain_type("not-an-email") is None
