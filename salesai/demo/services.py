"""Seed the demo organisation: synthetic CRM export -> CSV connection -> the ordinary sync.

The demo goes through exactly the path a customer's CSV export takes (connector, mapping, sync engine,
row errors), so what the demo shows is what the product does. Re-running is safe: the organisation, user
and connection are fetched or updated in place, the files are rewritten only when their bytes change, and
the sync upserts on (connection, external_id); on the same day every row comes back unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm_connectors.csv.folders import csv_organization_folder
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from ml.models import EmailSettings, ProductCatalogueEntry
from salesai.core.deal_history import deal_history_paused, deal_history_replace
from salesai.core.deal_reference import (
    StageSpec,
    currency_rates_upsert,
    owner_teams_upsert,
    pipeline_stages_upsert,
)
from salesai.core.models import Deal, DealHistory, Organization
from salesai.core.services import organization_create
from salesai.demo.deal_story import (
    BASE_CURRENCY,
    CURRENCY_RATES,
    DEAL_HISTORY_DAYS,
    FUTURE_FILE,
    TEAMS,
    write_deal_future,
)
from salesai.demo.generator import DemoCRM, demo_now, generate_demo_crm, write_demo_csvs

DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo company"
DEMO_ADMIN_USERNAME = "demo"
DEMO_ADMIN_EMAIL = "demo@demo.salesai.example"
DEMO_CONNECTION_NAME = "Demo CRM (CSV export)"
DEMO_EXPORT_FOLDER = "export"  # inside the demo organisation's import folder
# Beside the export, never synced: how the deals open at the demo's today end (backtests and benchmarks).
DEMO_HOLDOUT_FOLDER = "holdout"
# Every sales email carries the sender's postal address; the demo's is fictional.
DEMO_POSTAL_ADDRESS = "Demo company, 1 Example Street, 10115 Berlin, Germany"
# The products the synthetic activities talk about (vocabulary.PRODUCTS), so drafts have a catalogue to cite.
DEMO_PRODUCTS = (
    ("Analytics", "Dashboards and reports on the whole sales pipeline.", Decimal("49.00")),
    ("Automation", "Sequences and follow-up tasks that run themselves.", Decimal("39.00")),
    ("Forecasting", "Revenue forecasts from the live pipeline.", Decimal("59.00")),
)
DEMO_PRODUCT_CURRENCY = "EUR"


@dataclass(frozen=True)
class DemoSeedResult:
    organization: Organization
    organization_created: bool
    admin_username: str
    password: str
    connection: CRMConnection
    sync_run: SyncRun
    folder: Path
    generated: dict[str, int]  # rows written per object type
    deal_history_rows: int  # field changes of the deals up to today (DealHistory, source "demo")
    deal_future_path: Path  # the held-out outcomes of the deals open today (deal_story.read_deal_future)
    generate_seconds: float
    import_seconds: float


def demo_seed(
    *,
    password: str | None = None,
    folder: Path | None = None,
    seed: int = 7,
    today: date | None = None,
    companies: int = 1000,
    contacts: int = 5000,
    deals: int = 2000,
    activities: int = 20000,
) -> DemoSeedResult:
    """Generate the demo CRM for `today` (UTC), write it as CSVs and import it into the `demo` organisation.

    `folder` defaults to `<CSV import root>/demo/export`, inside the demo organisation's own import folder (the
    only place its CSV connection may read). The sizes exist for tests and small machines; the sync's row
    errors, if any, are on the returned SyncRun.
    """
    if folder is None:
        folder = csv_organization_folder(organization_slug=DEMO_ORG_SLUG) / DEMO_EXPORT_FOLDER
    folder = Path(folder)
    today = today or timezone.now().date()  # timezone.now() is UTC, so this is the UTC day
    password = password if password is not None else settings.DEMO_PASSWORD
    if not settings.LOCAL and password == settings.DEMO_PASSWORD_DEFAULT:
        # The default is published: a deployment's staff user must not get it.
        raise ValidationError("Set DEMO_PASSWORD (or --password) before seeding the demo outside a local run.")

    started = time.perf_counter()
    crm = generate_demo_crm(
        seed=seed,
        companies=companies,
        contacts=contacts,
        deals=deals,
        activities=activities,
        now=demo_now(day=today),
    )
    mapping_path = write_demo_csvs(crm=crm, folder=folder)
    future_path = write_deal_future(outcomes=crm.deal_future, path=folder.parent / DEMO_HOLDOUT_FOLDER / FUTURE_FILE)
    generated_at = time.perf_counter()

    org = organization_create(
        slug=DEMO_ORG_SLUG,
        name=DEMO_ORG_NAME,
        admin_username=DEMO_ADMIN_USERNAME,
        admin_password=password,
        admin_email=DEMO_ADMIN_EMAIL,
    )
    # connection_create updates the connection of that name in place, so re-seeding never duplicates it.
    connection = connection_create(
        organization=org.organization,
        kind="csv",
        name=DEMO_CONNECTION_NAME,
        config={"path": str(folder), "mapping_file": str(mapping_path)},
    )
    demo_deal_reference_setup(organization=org.organization, crm=crm)  # before the sync: it converts amounts
    with deal_history_paused():  # the generator's complete histories replace what a sync would record
        run = connection_sync(connection_id=connection.pk, full=False)
    demo_deal_history_load(organization=org.organization, connection=connection, crm=crm)
    demo_email_setup(organization=org.organization)
    finished = time.perf_counter()

    return DemoSeedResult(
        organization=org.organization,
        organization_created=org.organization_created,
        admin_username=DEMO_ADMIN_USERNAME,
        password=password,
        connection=connection,
        sync_run=run,
        folder=folder,
        generated={
            "companies": len(crm.companies),
            "contacts": len(crm.contacts),
            "deals": len(crm.deals) + len(crm.history_deals),
            "activities": len(crm.activities) + len(crm.deal_notes),
        },
        deal_history_rows=len(crm.deal_history),
        deal_future_path=future_path,
        generate_seconds=generated_at - started,
        import_seconds=finished - generated_at,
    )


def demo_deal_reference_setup(*, organization: Organization, crm: DemoCRM) -> None:
    """The demo's base currency and rates, both pipelines' stages with their default probabilities, and teams."""
    if organization.base_currency != BASE_CURRENCY:
        organization.base_currency = BASE_CURRENCY
        organization.save(update_fields=["base_currency"])
    history_start = (crm.now - timedelta(days=DEAL_HISTORY_DAYS + 31)).date()
    currency_rates_upsert(organization_id=organization.pk, rates=CURRENCY_RATES, valid_from=history_start)
    pipeline_stages_upsert(
        organization_id=organization.pk,
        stages=[
            StageSpec(s.pipeline, s.stage, s.display_order, s.probability, s.is_closed, s.is_won)
            for s in crm.pipeline_stages
        ],
    )
    owner_teams_upsert(organization_id=organization.pk, teams=TEAMS)


def demo_deal_history_load(*, organization: Organization, connection: CRMConnection, crm: DemoCRM) -> int:
    """The generator's deal histories replace what the sync recorded (it saw each deal once, today)."""
    ids = dict(Deal.objects.filter(connection=connection).values_list("external_id", "id"))
    changes = [
        (ids[c.deal_external_id], c.field, c.old_value, c.new_value, c.changed_at)
        for c in crm.deal_history
        if c.deal_external_id in ids
    ]
    return deal_history_replace(organization_id=organization.pk, changes=changes, source=DealHistory.Source.DEMO)


def demo_email_setup(*, organization: Organization) -> EmailSettings:
    """Email settings with a postal address (drafts need one for the compliance footer) and a small product
    catalogue. Re-seeding fills what is missing and keeps what an admin changed."""
    email_settings, _ = EmailSettings.objects.get_or_create(organization=organization)
    if not email_settings.sender_postal_address.strip():
        email_settings.sender_postal_address = DEMO_POSTAL_ADDRESS
        email_settings.save(update_fields=["sender_postal_address", "updated_at"])
    for name, description, price in DEMO_PRODUCTS:
        ProductCatalogueEntry.objects.get_or_create(
            organization=organization,
            name=name,
            defaults={"description": description, "list_price": price, "currency": DEMO_PRODUCT_CURRENCY},
        )
    return email_settings
