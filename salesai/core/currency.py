"""Deal amounts in the organisation's base currency, from the stored `CurrencyRate` rows.

A rate is valid from its date until the next one; an amount whose currency has no rate on that day has no base
amount (None), and whoever sums amounts must leave it out and say so — different currencies are never added.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from salesai.core.models import CurrencyRate, Organization

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class RateTable:
    """An organisation's rates: currency -> (valid_from dates ascending, rates in the same order)."""

    base_currency: str
    rates: dict[str, tuple[list[dt.date], list[Decimal]]] = field(default_factory=dict)

    def rate_on(self, *, currency: str, day: dt.date) -> Decimal | None:
        currency = (currency or "").upper()
        if not currency or currency == self.base_currency:
            return Decimal(1)
        known = self.rates.get(currency)
        if known is None:
            return None
        days, values = known
        position = bisect.bisect_right(days, day) - 1
        # Before the first stored rate the earliest one is the best estimate; say nothing only when none exists.
        return values[max(position, 0)]


def currency_rates_load(*, organization_id: int) -> RateTable:
    base = Organization.objects.filter(pk=organization_id).values_list("base_currency", flat=True).first() or "USD"
    rates: dict[str, tuple[list[dt.date], list[Decimal]]] = {}
    rows = (
        CurrencyRate.objects.filter(organization_id=organization_id)
        .order_by("currency", "valid_from")
        .values_list("currency", "valid_from", "rate_to_base")
    )
    for currency, valid_from, rate in rows:
        days, values = rates.setdefault(currency.upper(), ([], []))
        days.append(valid_from)
        values.append(rate)
    return RateTable(base_currency=base.upper(), rates=rates)


def amount_in_base(*, amount: Decimal | None, currency: str, day: dt.date, rates: RateTable) -> Decimal | None:
    """`amount` converted at the rate valid on `day`; None when there is no amount or no rate for its currency."""
    if amount is None:
        return None
    rate = rates.rate_on(currency=currency, day=day)
    if rate is None:
        return None
    return (amount * rate).quantize(_CENT, rounding=ROUND_HALF_UP)
