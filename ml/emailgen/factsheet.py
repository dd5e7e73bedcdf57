"""The ORM bridge of the email pipeline: CRM rows -> FactSheet, and who must not be emailed at all.

The only module of `ml.emailgen` that imports Django. Every fact gets an id that stays the same for the same
row ("deal.42.amount"), so citations stored with a draft keep pointing at the right thing. Display values are
formatted the way an email would write them ("EUR 12,500", "November 20, 2026"); `raw` keeps the typed value
the guardrails compare against.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q
from django.utils import timezone

from ml.engine.emailgen.types import ComplianceFooter, Fact, FactSheet
from ml.models import EmailSettings, EmailSuppression, ProductCatalogueEntry
from salesai.core.models import Activity, Contact, CurrencyRate, Deal, Organization

RECENT_ACTIVITIES = 8
PRODUCTS_MAX = 20
NOTE_MAX_CHARS = 600  # free text is context for the writer; long email threads would crowd out the facts


def money_format(amount: Decimal, currency: str) -> str:
    """EUR 12,500 / EUR 12,500.50 / 12,500 (no currency)."""
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{currency.upper()} {text}".strip()


def date_format(value: date) -> str:
    return f"{value:%B} {value.day}, {value.year}"  # November 20, 2026


def fact_sheet_refusal(*, contact: Contact, organization_id: int) -> tuple[str, str] | None:
    """(code, reason) when the contact must not get a sales email; None when drafting may go ahead."""
    email = (contact.email or "").strip()
    if not email:
        return "no_email_address", f"{contact} has no email address in the CRM."
    if contact.opted_out:
        return "opted_out", f"{contact} opted out of sales emails."
    # Stored lower-cased, but compared case-insensitively: rows added through the shell or admin may not be.
    suppression = EmailSuppression.objects.filter(organization_id=organization_id, email__iexact=email).first()
    if suppression is not None:
        why = f" ({suppression.reason})" if suppression.reason else ""
        return "suppressed", f"{email} is on the organisation's suppression list{why}."
    return None


def fact_sheet_build(
    *,
    contact: Contact,
    deal: Deal | None,
    sender: AbstractBaseUser | None,
    email_settings: EmailSettings,
    now: datetime,
) -> FactSheet:
    """Everything a draft to `contact` may state. Without an explicit `deal` the contact's most recent open
    deal is used (if any). Only activities before `now` count, so a re-run sees what the rep saw."""
    organization = Organization.objects.get(pk=contact.organization_id)
    company = contact.company if contact.company_id and contact.company.deleted_at is None else None
    deal = deal if deal is not None else deal_open_latest(contact=contact)
    sender_name, sender_email = _sender(sender=sender, contact=contact, organization=organization)

    facts: list[Fact] = []
    facts += _contact_facts(contact)
    if company is not None:
        facts += _company_facts(company)
    if deal is not None:
        facts += _deal_facts(deal)
    facts += _activity_facts(contact=contact, deal=deal, now=now)
    facts.append(Fact("sender.name", "person", "Sender name", sender_name, sender_name))
    if sender_email:
        facts.append(Fact("sender.email", "email", "Sender email", sender_email, sender_email))
    facts.append(Fact("organization.name", "company", "Our organisation", organization.name, organization.name))
    facts += _product_facts(organization_id=organization.id)
    facts += _rate_facts(organization=organization, facts=facts, today=timezone.localtime(now).date())
    address = email_settings.sender_postal_address.strip()
    if address:
        facts.append(Fact("organization.postal_address", "address", "Sender postal address", address, address))

    return FactSheet(
        contact_first_name=contact.first_name.strip(),
        contact_name=contact.full_name,
        contact_email=contact.email.strip(),
        company_name=company.name if company is not None else "",
        sender_name=sender_name,
        sender_email=sender_email,
        organization_name=organization.name,
        footer=ComplianceFooter(unsubscribe_text=email_settings.unsubscribe_text.strip(), postal_address=address),
        facts=facts,
    )


def deal_open_latest(*, contact: Contact) -> Deal | None:
    """The contact's most recently created open deal: what a draft without an explicit deal is about."""
    return (
        Deal.objects.filter(contact=contact, status=Deal.Status.OPEN, deleted_at__isnull=True)
        .order_by(F("remote_created_at").desc(nulls_last=True), "-created_at", "-id")
        .first()
    )


def _sender(*, sender: AbstractBaseUser | None, contact: Contact, organization: Organization) -> tuple[str, str]:
    """(name, email) of whoever signs. The requesting user first, else the CRM owner of the contact when they
    are a member here; a nameless sender signs as the organisation's team (a fact, unlike an invented name)."""
    user = sender
    if user is None and contact.owner_email:
        user = (
            get_user_model()
            .objects.filter(email__iexact=contact.owner_email, memberships__organization=organization)
            .first()
        )
    name = (user.get_full_name().strip() if user is not None else "") or f"{organization.name} team"
    email = ((getattr(user, "email", "") or "") if user is not None else "").strip() or contact.owner_email.strip()
    return name, email


def _contact_facts(contact: Contact) -> list[Fact]:
    facts = []
    first, last = contact.first_name.strip(), contact.last_name.strip()
    if first:
        facts.append(Fact("contact.first_name", "person", "Contact first name", first, first))
    if last:
        facts.append(Fact("contact.last_name", "person", "Contact last name", last, last))
    if first or last:
        full = f"{first} {last}".strip()
        facts.append(Fact("contact.full_name", "person", "Contact name", full, full))
    if contact.job_title.strip():
        facts.append(
            Fact(
                "contact.job_title", "title", "Contact job title", contact.job_title.strip(), contact.job_title.strip()
            )
        )
    if contact.email.strip():
        facts.append(Fact("contact.email", "email", "Contact email", contact.email.strip(), contact.email.strip()))
    return facts


def _company_facts(company) -> list[Fact]:
    facts = [Fact("company.name", "company", "Company", company.name, company.name)]
    if company.industry:
        facts.append(Fact("company.industry", "text", "Industry", company.industry, company.industry))
    location = ", ".join(part for part in (company.city, company.country) if part)
    if location:
        facts.append(Fact("company.location", "text", "Company location", location, location))
    if company.employee_count is not None:
        facts.append(
            Fact("company.employee_count", "number", "Employees", f"{company.employee_count:,}", company.employee_count)
        )
    return facts


def _deal_facts(deal: Deal) -> list[Fact]:
    prefix = f"deal.{deal.id}"
    facts = [Fact(f"{prefix}.name", "text", "Deal", deal.name, deal.name)]
    if deal.amount is not None:
        amount = Decimal(deal.amount)
        facts.append(Fact(f"{prefix}.amount", "amount", "Deal amount", money_format(amount, deal.currency), amount))
    if deal.stage:
        facts.append(Fact(f"{prefix}.stage", "text", "Deal stage", deal.stage, deal.stage))
    if deal.close_date is not None:
        facts.append(
            Fact(f"{prefix}.close_date", "date", "Expected close date", date_format(deal.close_date), deal.close_date)
        )
    facts.append(Fact(f"{prefix}.status", "text", "Deal status", deal.get_status_display(), deal.status))
    return facts


def _activity_facts(*, contact: Contact, deal: Deal | None, now: datetime) -> list[Fact]:
    scope = Q(contact=contact) | Q(deal=deal) if deal is not None else Q(contact=contact)
    activities = Activity.objects.filter(scope, deleted_at__isnull=True, occurred_at__lte=now).order_by(
        "-occurred_at", "-id"
    )[:RECENT_ACTIVITIES]
    facts: list[Fact] = []
    for activity in activities:
        prefix = f"activity.{activity.id}"
        kind = activity.get_kind_display()
        day = timezone.localtime(activity.occurred_at).date()
        facts.append(Fact(f"{prefix}.kind", "text", "Activity type", kind.lower(), activity.kind))
        facts.append(Fact(f"{prefix}.date", "date", f"{kind} date", date_format(day), day))
        if activity.subject.strip():
            facts.append(
                Fact(f"{prefix}.subject", "text", f"{kind} subject", activity.subject.strip(), activity.subject.strip())
            )
        body = activity.body.strip()
        if body:
            # Typed by CRM users (or by the contact, for inbound email): context, never grounds a claim.
            text = body if len(body) <= NOTE_MAX_CHARS else body[:NOTE_MAX_CHARS].rstrip() + "…"
            facts.append(Fact(f"{prefix}.body", "text", f"{kind} notes", text, text, trusted=False))
    return facts


def _product_facts(*, organization_id: int) -> list[Fact]:
    products = ProductCatalogueEntry.objects.filter(organization_id=organization_id, active=True).order_by("name")
    facts: list[Fact] = []
    for product in products[:PRODUCTS_MAX]:
        prefix = f"product.{product.id}"
        facts.append(Fact(f"{prefix}.name", "product", "Product", product.name, product.name))
        if product.list_price is not None:
            price = Decimal(product.list_price)
            facts.append(
                Fact(
                    f"{prefix}.price",
                    "amount",
                    f"{product.name} list price",
                    money_format(price, product.currency),
                    price,
                )
            )
        if product.description.strip():
            facts.append(
                Fact(
                    f"{prefix}.description",
                    "text",
                    f"{product.name} description",
                    product.description.strip(),
                    product.description.strip(),
                )
            )
    return facts


def _rate_facts(*, organization: Organization, facts: list[Fact], today: date) -> list[Fact]:
    """ "fx.USD.EUR" (EUR per USD) for every pair of currencies the sheet's amounts use, from the organisation's
    stored rates valid today: a draft keeps one currency and converts a second figure only with a stored rate."""
    currencies = sorted({f.value.split()[0] for f in facts if f.kind == "amount" and f.value[:3].isalpha()})
    if len(currencies) < 2:
        return []
    to_base = {organization.base_currency.upper(): Decimal(1)}
    for rate in CurrencyRate.objects.filter(
        organization=organization, currency__in=currencies, valid_from__lte=today
    ).order_by("currency", "-valid_from"):
        to_base.setdefault(rate.currency.upper(), Decimal(rate.rate_to_base))
    out = []
    for source in currencies:
        for target in currencies:
            if source != target and source in to_base and target in to_base and to_base[target]:
                rate = (to_base[source] / to_base[target]).quantize(Decimal("0.000001"))
                out.append(Fact(f"fx.{source}.{target}", "rate", f"{source} to {target} rate", f"{rate}", rate))
    return out
