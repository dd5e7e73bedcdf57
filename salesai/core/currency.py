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


class MixedCurrencies(ValueError):
    """Amounts in different currencies with no stored rate between them: they are never added up."""


@dataclass(frozen=True)
class BaseTotal:
    """A sum of deal amounts in the base currency, and what was left out of it and why."""

    total: Decimal
    currency: str
    counted: int
    left_out: dict[str, int]  # reason ("no amount", "no stored rate for CHF") -> deals

    @property
    def message(self) -> str:
        """'' when everything counted, else a sentence for the UI and logs."""
        if not self.left_out:
            return ""
        parts = ", ".join(f"{count} with {reason}" for reason, count in sorted(self.left_out.items()))
        return f"{sum(self.left_out.values())} deal(s) left out of the {self.currency} total: {parts}"


def base_amounts_total(
    *, amounts: list[tuple[Decimal | None, Decimal | None, str]], base_currency: str, strict: bool = False
) -> BaseTotal:
    """Sum (amount_base, amount, currency) triples in `base_currency`. A deal without a base amount is left out
    and counted under its reason; with `strict`, a deal in another currency without a rate raises MixedCurrencies
    instead (for callers that must not show a partial total)."""
    base_currency = base_currency.upper()
    total, counted = Decimal(0), 0
    left_out: dict[str, int] = {}
    for amount_base, amount, currency in amounts:
        if amount_base is not None:
            total += amount_base
            counted += 1
            continue
        if amount is None:
            reason = "no amount"
        else:
            reason = f"no stored rate for {(currency or '?').upper()}"
            if strict:
                raise MixedCurrencies(
                    f"cannot add {currency} amounts to {base_currency} ones: store a {currency} rate "
                    f"(admin > currency rates) or leave those deals out"
                )
        left_out[reason] = left_out.get(reason, 0) + 1
    return BaseTotal(total=total, currency=base_currency, counted=counted, left_out=left_out)
