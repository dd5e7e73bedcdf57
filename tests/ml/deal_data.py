"""An organisation whose deals have point-in-time histories (from the engine tests' synthetic world)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from salesai.core.deal_history import deal_history_replace
from salesai.core.models import Deal, Organization
from tests.ml.engine.deals.synthetic import synthetic_deals

NOW = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


def _utc(value: pd.Timestamp) -> dt.datetime:
    return value.to_pydatetime().replace(tzinfo=dt.UTC)


def deal_org_create(*, n: int = 400, seed: int = 0, slug: str = "deals") -> Organization:
    organization = Organization.objects.create(name=f"Deals {slug}", slug=slug)
    frame = synthetic_deals(n=n, seed=seed)
    deals = Deal.objects.bulk_create(
        [
            Deal(
                organization=organization,
                external_id=f"d{row.deal_id}",
                name=row.name,
                amount=Decimal(str(row.amount)),
                amount_base=Decimal(str(row.amount)),
                currency="USD",
                pipeline=row.pipeline,
                stage=row.stage,
                status=row.status,
                close_date=row.expected_close.date(),
                owner_email=row.owner,
                remote_created_at=_utc(row.created_at),
                closed_at=None if pd.isna(row.closed_at) else _utc(row.closed_at),
            )
            for row in frame.itertuples()
        ]
    )
    changes = []
    for deal, row in zip(deals, frame.itertuples(), strict=True):
        created = _utc(row.created_at)
        for name, value in (
            ("stage", row.stage),
            ("amount", str(row.amount)),
            ("currency", "USD"),
            ("close_date", row.expected_close.date().isoformat()),
            ("owner_email", row.owner),
            ("pipeline", row.pipeline),
            ("status", "open"),
        ):
            changes.append((deal.id, name, "", value, created))
        if row.status != "open":
            changes.append((deal.id, "status", "open", row.status, _utc(row.closed_at)))
    deal_history_replace(organization_id=organization.id, changes=changes, source="demo")
    return organization
