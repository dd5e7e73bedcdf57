"""The reference data deals are read against: pipeline stages (per pipeline, with the CRM's default win
probability), currency rates into the organisation's base currency, and the owners' teams.

Written by the CRM stage syncs (crm_connectors), the demo seed and the admin; idempotent upserts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from salesai.core.currency import amount_in_base, currency_rates_load
from salesai.core.models import CurrencyRate, Deal, OwnerTeam, PipelineStage


@dataclass(frozen=True)
class StageSpec:
    pipeline: str
    stage: str
    display_order: int
    probability: float | None  # 0..1, None when the CRM has no default
    is_closed: bool
    is_won: bool


def pipeline_stages_upsert(*, organization_id: int, stages: Iterable[StageSpec]) -> int:
    """Create or update each (pipeline, stage); stages the CRM no longer lists are kept (old deals name them).
    A probability outside 0..1 (a CRM's percent) is scaled or dropped. Returns how many rows were written."""
    written = 0
    with transaction.atomic():
        for spec in stages:
            probability = spec.probability
            if probability is not None and 1 < probability <= 100:
                probability = probability / 100
            if probability is not None and not 0 <= probability <= 1:
                probability = None
            PipelineStage.objects.update_or_create(
                organization_id=organization_id,
                pipeline=spec.pipeline,
                stage=spec.stage,
                defaults={
                    "display_order": spec.display_order,
                    "probability": probability,
                    "is_closed": spec.is_closed,
                    "is_won": spec.is_won,
                },
            )
            written += 1
    return written


def currency_rates_upsert(
    *, organization_id: int, rates: dict[str, Decimal | float], valid_from: dt.date, recompute: bool = True
) -> int:
    """Store `1 currency = rate base-currency units` from `valid_from`; then (by default) fill `amount_base` of
    the organisation's deals in those currencies. Returns the number of deals whose base amount changed."""
    with transaction.atomic():
        for currency, rate in rates.items():
            if Decimal(str(rate)) <= 0:
                raise ValueError(f"the rate of {currency} must be positive")
            CurrencyRate.objects.update_or_create(
                organization_id=organization_id,
                currency=currency.upper(),
                valid_from=valid_from,
                defaults={"rate_to_base": Decimal(str(rate))},
            )
    return deal_amounts_rebase(organization_id=organization_id) if recompute else 0


def deal_amounts_rebase(*, organization_id: int) -> int:
    """Recompute every deal's `amount_base` from the stored rates (after rates or the base currency changed)."""
    rates = currency_rates_load(organization_id=organization_id)
    changed = 0
    today = dt.date.today()
    with transaction.atomic():
        rows = Deal.objects.filter(organization_id=organization_id).values_list(
            "id", "amount", "currency", "amount_base"
        )
        updates: dict[Decimal | None, list[int]] = {}
        for deal_id, amount, currency, stored in rows.iterator(chunk_size=5000):
            base = amount_in_base(amount=amount, currency=currency, day=today, rates=rates)
            if base != stored:
                updates.setdefault(base, []).append(deal_id)
        for base, ids in updates.items():
            for start in range(0, len(ids), 500):
                changed += Deal.objects.filter(pk__in=ids[start : start + 500]).update(amount_base=base)
    return changed


def owner_teams_upsert(*, organization_id: int, teams: dict[str, str]) -> int:
    """owner email -> team; an empty team removes the owner's row."""
    with transaction.atomic():
        for owner_email, team in teams.items():
            email = owner_email.strip().lower()
            if not team:
                OwnerTeam.objects.filter(organization_id=organization_id, owner_email=email).delete()
                continue
            OwnerTeam.objects.update_or_create(
                organization_id=organization_id, owner_email=email, defaults={"team": team}
            )
    return len(teams)
