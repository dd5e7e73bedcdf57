"""A small synthetic CRM with a real, learnable conversion signal, written straight into the database.

Leads from referrals, with senior titles, convert more often; a converting lead writes inbound emails and
has meetings in the weeks before it converts. Bulk inserts keep a few hundred contacts fast.
"""

from datetime import timedelta

import numpy as np
from django.utils import timezone

from salesai.core.models import Activity, Company, Contact, Organization
from tests.factories import OrganizationFactory

SOURCES = ("Referral", "Web", "Event", "Cold call")
TITLES = ("CEO", "VP Sales", "Head of Marketing", "Sales Manager", "Analyst", "Software Engineer")
SENIOR = {"CEO", "VP Sales", "Head of Marketing"}


def synthetic_org_create(*, contacts: int = 300, seed: int = 0, slug: str = "synthetic") -> Organization:
    rng = np.random.default_rng(seed)
    now = timezone.now()
    organization = OrganizationFactory(slug=slug, name=slug.title())
    companies = Company.objects.bulk_create(
        [
            Company(
                organization=organization,
                external_id=f"{slug}-co-{i}",
                name=f"Company {i}",
                industry=str(rng.choice(["Software", "Retail", "Manufacturing"])),
                employee_count=int(rng.integers(5, 5000)),
                country=str(rng.choice(["DE", "US", "FR"])),
            )
            for i in range(max(1, contacts // 4))
        ]
    )
    rows, plans = [], []
    for i in range(contacts):
        source = str(rng.choice(SOURCES, p=[0.25, 0.35, 0.2, 0.2]))
        title = str(rng.choice(TITLES))
        created = now - timedelta(days=float(rng.uniform(20, 330)))
        propensity = -1.6 + 1.8 * (source == "Referral") + 1.0 * (title in SENIOR) - 1.0 * (source == "Cold call")
        converts = rng.random() < 1 / (1 + np.exp(-propensity))
        converted_at = created + timedelta(days=float(rng.uniform(15, 150))) if converts else None
        if converted_at is not None and converted_at >= now:
            converted_at = None
        rows.append(
            Contact(
                organization=organization,
                company=companies[int(rng.integers(len(companies)))],
                external_id=f"{slug}-ct-{i}",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                email=f"person{i}@{'gmail.com' if rng.random() < 0.3 else f'company{i % 50}.example'}",
                job_title=title,
                lead_source=source,
                lifecycle_stage=Contact.LifecycleStage.CUSTOMER if converted_at else Contact.LifecycleStage.LEAD,
                remote_created_at=created,
                converted_at=converted_at,
                properties={"plan_interest": str(rng.choice(["basic", "pro"])), "seats": int(rng.integers(1, 50))},
            )
        )
        plans.append((created, converted_at))
    created_contacts = Contact.objects.bulk_create(rows)
    activities = []
    for contact, (created, converted_at) in zip(created_contacts, plans, strict=True):
        end = converted_at or now
        span = max((end - created).total_seconds(), 3600.0)
        moments = [
            ("email", "outbound", created + timedelta(seconds=float(rng.uniform(0, span))))
            for _ in range(int(rng.poisson(2)))
        ]
        moments += [
            ("email", "inbound", created + timedelta(seconds=float(rng.uniform(0, span))))
            for _ in range(int(rng.poisson(0.4)))
        ]
        if converted_at is not None:  # the buying signal: replies and meetings shortly before converting
            moments += [
                ("email", "inbound", converted_at - timedelta(days=float(rng.uniform(1, 45))))
                for _ in range(int(rng.integers(2, 6)))
            ]
            moments += [
                ("meeting", "", converted_at - timedelta(days=float(rng.uniform(1, 30))))
                for _ in range(int(rng.integers(1, 3)))
            ]
        for kind, direction, moment in moments:
            if created <= moment < now:
                activities.append(
                    Activity(
                        organization=organization,
                        external_id=f"{slug}-ac-{len(activities)}",
                        kind=kind,
                        direction=direction,
                        occurred_at=moment,
                        contact=contact,
                        subject=f"{kind} {direction}",
                    )
                )
    Activity.objects.bulk_create(activities, batch_size=1000)
    return organization
