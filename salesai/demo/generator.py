"""A deterministic synthetic CRM for the demo organisation (pure Python + numpy, no ORM).

The generative story, per contact:

- `fit` comes from observable fields (company size and industry, seniority, function, lead source,
  corporate email);
- `engagement` drives how many activities the contact has and how many are inbound, calls or meetings;
- `budget_urgency` changes NOTHING countable: it only decides whether the prospect's words say
  "budget approved, send the contract" or "no budget until next year". A model that reads text can see
  it; a model that counts activities cannot.

The three factors set the probability that the contact will buy. A buyer converts after a delay; the
activities that carry the buying signals happen before `converted_at`, onboarding activities after it.
Buyers whose delay has not elapsed yet are today's hot open opportunities. Won deals belong to converted
contacts; other deals go to the most promising remaining contacts and are open or lost.

The churn story, per customer company (a company with a converted contact): a latent `health` (partly
its fit and its people's engagement, mostly hidden) sets how long it stays. Unhealthy accounts churn at a
date after their sale; the date is exported as the company custom property `churn_date`. Before churning,
an account's post-sale activities thin out and their words turn (support complaints, "considering
switching", budget reviews, low adoption); healthy accounts talk about adoption and expansion. Besides
the onboarding activities the lead story drew, every account has a post-sale life of its own: 8-20
check-in calls, business reviews, support emails and usage notes over its tenure, as many as its health
suggests; in the weeks before churning there are fewer reviews and more inbound emails and calls. Both
ways have noise: some churners stay polite, some keep their habits, and some healthy accounts go through
a rough patch of complaints, so neither counts nor words alone tell who leaves. Everything churn-related
draws from its own random streams, after the lead story drew everything it draws, so the lead story
(everything before a conversion) is the same with or without it; the accounts' own activities come on
top of the `activities` asked for.

`generate_demo_crm` returns rows (plus the latent factors, for tests); `write_demo_csvs` writes them as a
HubSpot-style export with a `mapping.yaml` for the CSV connector.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from salesai.demo import vocabulary as vocab
from salesai.demo.deal_story import DealStory, DemoDealChange, DemoDealOutcome, DemoStage, pipeline_stages
from salesai.demo.texts import (
    CALL_SUBJECTS,
    MEETING_SUBJECTS,
    ONBOARDING_MEETING_SUBJECTS,
    PROSPECT_SUBJECTS,
    REP_SUBJECTS,
    TASK_SUBJECTS,
    Signal,
    account_activity_text,
    note_text,
    pick,
    prospect_email_text,
    rep_email_text,
    text_details,
)

# Share of contacts who would buy if given time; about 85% of them have converted by `now`.
BUYER_SHARE = 0.24
# How strongly each latent factor moves the odds of buying (log-odds per standard deviation).
FIT_WEIGHT = 0.9
ENGAGEMENT_WEIGHT = 0.7
BUDGET_WEIGHT = 1.5
HISTORY_DAYS = 365
# The churn story: share of customers with >= CHURN_TENURE_DAYS of tenure that have churned by `now`.
CHURN_SHARE = 0.25
CHURN_TENURE_DAYS = 60
CHURN_MIN_LIFETIME_DAYS = 45  # no account churns sooner after its first sale
CHURN_AFTER_LAST_SALE_DAYS = 21  # nor within three weeks of a later sale to one of its people
CHURN_HEALTH_WEIGHT = 1.2  # log-lifetime per standard deviation of health
CHURN_STREAM = 0xC4C4  # mixed into the seed: the churn story's own random stream
CHURN_ONBOARDING_DAYS = 21  # post-sale activities this early mostly keep their onboarding words
# The accounts' own post-sale life (check-ins, reviews, support, usage notes), on top of `activities`.
ACCOUNT_ACTIVITIES_RANGE = (8, 20)  # per account over its tenure (fewer only for the newest customers)
ACCOUNT_MONTHLY_ACTIVITIES = 1.6  # at average health; healthier accounts talk to us a little more
ACCOUNT_LIFE_AFTER_SALE_DAYS = 10
ACCOUNT_WARNING_DAYS = (60.0, 130.0)  # how long before churning an account's habits and words turn
ACCOUNT_POLITE_CHURNER_SHARE = 0.2  # churners whose words stay calm: text alone is no oracle
ACCOUNT_STEADY_CHURNER_SHARE = 0.3  # churners whose habits do not change: counts alone are no oracle
ACCOUNT_ROUGH_PATCH_SHARE = 0.25  # retained accounts with a month or two of complaints
ACCOUNT_KINDS = ("call_out", "call_in", "meeting", "email_in", "email_out", "note", "task")
ACCOUNT_KIND_MIX = {
    "call_out": 0.2,
    "call_in": 0.04,
    "meeting": 0.22,
    "email_in": 0.16,
    "email_out": 0.18,
    "note": 0.14,
    "task": 0.06,
}
ACCOUNT_KIND_FIELDS = {
    "call_out": ("call", "outbound"),
    "call_in": ("call", "inbound"),
    "meeting": ("meeting", ""),
    "email_in": ("email", "inbound"),
    "email_out": ("email", "outbound"),
    "note": ("note", ""),
    "task": ("task", ""),
}


@dataclass(slots=True)
class DemoCompany:
    external_id: str
    name: str
    domain: str
    industry: str
    employee_count: int | None
    annual_revenue: int | None
    country: str
    city: str
    owner_email: str
    time_zone: str
    created_at: datetime
    updated_at: datetime
    churn_date: date | None = None  # exported as the custom property `churn_date`
    health: float | None = None  # latent (customers only), never exported


@dataclass(slots=True)
class DemoContact:
    external_id: str
    company_external_id: str  # "" when the contact has no company
    first_name: str
    last_name: str
    email: str
    phone: str
    job_title: str
    lead_source: str
    lead_status: str
    lifecycle_stage: str
    owner_email: str
    opted_out: bool
    created_at: datetime
    converted_at: datetime | None
    updated_at: datetime
    preferred_language: str
    product_interest: str
    budget_range: str
    newsletter_opens: int
    # Latent factors, never exported: what really drove the outcome.
    fit: float
    engagement: float
    budget_urgency: float


@dataclass(slots=True)
class DemoDeal:
    external_id: str
    company_external_id: str
    contact_external_id: str
    name: str
    amount: int
    currency: str
    pipeline: str
    stage: str
    status: str  # open / won / lost
    close_date: date
    created_at: datetime
    updated_at: datetime
    owner_email: str
    closed_at: datetime | None = None
    deal_story: bool = False  # drawn by the deal story (deal_story.py), on top of the `deals` asked for


@dataclass(slots=True)
class DemoActivity:
    external_id: str
    kind: str
    direction: str
    subject: str
    body: str
    occurred_at: datetime
    contact_external_id: str
    company_external_id: str
    deal_external_id: str
    # Never exported: which signals the text carries and whether it happened after the conversion.
    signals: tuple[str, ...] = ()
    after_conversion: bool = False
    account_story: bool = False  # drawn by the churn story, on top of the `activities` asked for
    deal_story: bool = False  # a note on a deal-story deal, on top of the `activities` asked for


@dataclass
class DemoCRM:
    seed: int
    now: datetime
    companies: list[DemoCompany] = field(default_factory=list)
    contacts: list[DemoContact] = field(default_factory=list)
    deals: list[DemoDeal] = field(default_factory=list)
    activities: list[DemoActivity] = field(default_factory=list)
    # The deal story (deal_story.py): its own deals and their notes (exported after the lead story's), the field
    # history of every deal up to `now`, the pipelines' stages, and the held-out future (never exported).
    history_deals: list[DemoDeal] = field(default_factory=list)
    deal_notes: list[DemoActivity] = field(default_factory=list)
    deal_history: list[DemoDealChange] = field(default_factory=list)
    deal_future: list[DemoDealOutcome] = field(default_factory=list)
    pipeline_stages: list[DemoStage] = field(default_factory=list)


def demo_now(*, day: date) -> datetime:
    """The generator's `now` for a calendar day: midnight UTC, so re-seeding the same day is identical."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def generate_demo_crm(
    *,
    seed: int = 7,
    companies: int = 1000,
    contacts: int = 5000,
    deals: int = 2000,
    activities: int = 20000,
    history_deals: int | None = None,
    now: datetime,
) -> DemoCRM:
    """The synthetic CRM at `now`. `history_deals` (default: as many as `deals`) more deals come from the deal story,
    with ~30 months of field history, on top of the `deals` asked for."""
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise ValueError("now must be an aware UTC datetime")
    if companies < 1 or contacts < 1 or deals < 0 or activities < 0:
        raise ValueError("companies and contacts must be positive, deals and activities not negative")
    builder = _Builder(seed=seed, now=now.replace(second=0, microsecond=0))
    crm = builder.build(n_companies=companies, n_contacts=contacts, n_deals=deals, n_activities=activities)
    builder.tell_deal_story(crm, n_history_deals=deals if history_deals is None else history_deals)
    return crm


# --- The builder ----------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _scalar_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _standardize(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def _weights(values: Sequence[float]) -> np.ndarray:
    w = np.asarray(values, dtype=float)
    return w / w.sum()


def _ascii_slug(text: str, *, separator: str = "") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", separator, plain).strip(separator)


def _lifetime_offset(*, health: np.ndarray, tenure: np.ndarray) -> float:
    """The log-scale of account lifetimes that makes CHURN_SHARE of the customers with at least
    CHURN_TENURE_DAYS of tenure churned by now, in expectation (bisection; churn falls as the scale grows)."""
    eligible = tenure >= CHURN_TENURE_DAYS
    if not eligible.any():
        return 0.0
    exposure = np.maximum(tenure[eligible] - CHURN_MIN_LIFETIME_DAYS, 0.0)
    weights = CHURN_HEALTH_WEIGHT * health[eligible]
    low, high = -5.0, 15.0
    for _ in range(60):
        middle = (low + high) / 2
        share = np.mean(1 - np.exp(-exposure / np.exp(middle + weights)))
        if share > CHURN_SHARE:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _weekday_time(t: datetime, *, lo: datetime, hi: datetime, rnd: random.Random) -> datetime:
    """`t` moved to working hours of a weekday on or before its day, inside [lo, hi) (else `t` itself)."""
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if day.weekday() >= 5:
        day -= timedelta(days=day.weekday() - 4)
    candidate = day + timedelta(hours=rnd.randrange(8, 18), minutes=rnd.randrange(60))
    if lo <= candidate < hi:
        return candidate
    minute = t.replace(second=0, microsecond=0)
    return minute if lo <= minute < hi else lo


@dataclass(slots=True)
class _Account:
    """A customer account's hidden post-sale state (the churn story)."""

    company: int
    start: datetime  # its first sale
    end: datetime  # its churn day, or now
    churned: bool
    health: float
    warning_days: float
    polite: bool  # a churner whose words stay mostly calm
    steady: bool  # a churner whose habits (how often, which kinds) do not change
    rough_patch: tuple[datetime, datetime] | None  # a retained account's bad spell: noise
    people: list[tuple[datetime, int]]  # (converted at, contact index), oldest first
    monthly_rate: float

    def base_risk(self) -> float:
        return 0.04 + 0.16 * _scalar_sigmoid(-1.5 * self.health)

    def risk(self, when: datetime) -> float:
        """0..1: how far on its way out the account is at `when` (rises over the weeks before churning)."""
        base = self.base_risk()
        if self.churned:
            days_left = (self.end - when).total_seconds() / 86_400
            return base + (0.95 - base) * _scalar_sigmoid((self.warning_days - days_left) / 10)
        if self.rough_patch is not None and self.rough_patch[0] <= when < self.rough_patch[1]:
            return max(base, 0.6)
        return base

    def habit_risk(self, when: datetime) -> float:
        return self.base_risk() if self.steady else self.risk(when)

    def signal(self, when: datetime, *, u: float, v: float) -> Signal:
        """What one activity at `when` says, from two uniform draws."""
        base, risk = self.base_risk(), self.risk(when)
        words = base + 0.25 * (risk - base) if self.polite else risk
        if u < words:
            return Signal.CHURN_RISK
        return Signal.EXPANSION if v < 0.15 + 0.35 * _scalar_sigmoid(1.5 * self.health) else Signal.ACCOUNT


def _offset_for_mean(logits: np.ndarray, target: float) -> float:
    """The intercept that makes mean(sigmoid(logits + b)) == target (bisection; the mean is monotone in b)."""
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if _sigmoid(logits + middle).mean() < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


class _Builder:
    def __init__(self, *, seed: int, now: datetime) -> None:
        self.seed = seed
        self.now = now
        self.rng = np.random.default_rng(seed)  # vectorized draws
        self.rnd = random.Random(seed)  # scalar draws: much cheaper per call than numpy's

    # Times ----------------------------------------------------------------------------------------------

    def business_time(self, t: datetime, *, lo: datetime, hi: datetime) -> datetime:
        """Move `t` to a weekday between 08:00 and 18:00 on or near its day, staying inside [lo, hi)."""
        day = t.replace(hour=0, minute=0, second=0, microsecond=0)
        if day.weekday() >= 5:
            day += timedelta(days=7 - day.weekday())
        candidate = day + timedelta(hours=self.rnd.randrange(8, 18), minutes=self.rnd.randrange(60))
        if lo <= candidate < hi:
            return candidate
        minute = t.replace(second=0, microsecond=0)
        return minute if lo <= minute < hi else lo

    def between(self, lo: datetime, hi: datetime, fraction: float) -> datetime:
        return self.business_time(lo + (hi - lo) * fraction, lo=lo, hi=hi)

    # Stages ---------------------------------------------------------------------------------------------

    def build(self, *, n_companies: int, n_contacts: int, n_deals: int, n_activities: int) -> DemoCRM:
        self.make_companies(n_companies)
        self.make_contacts(n_contacts)
        self.decide_outcomes()
        self.allocate_activities(n_activities)
        self.make_deals(n_deals)
        self.make_activities()
        self.finish_contacts()
        self.make_churn()  # last: it re-times and re-words post-sale activities and adds the accounts' own
        return self.assemble()

    def make_companies(self, n: int) -> None:
        rng, rnd = self.rng, self.rnd
        country_idx = rng.choice(len(vocab.COUNTRIES), size=n, p=_weights([c.weight for c in vocab.COUNTRIES]))
        industries = list(vocab.INDUSTRIES)
        industry_idx = rng.choice(len(industries), size=n, p=_weights([vocab.INDUSTRIES[i][0] for i in industries]))
        employees = np.clip(np.round(rng.lognormal(np.log(60), 1.4, n)), 2, 80_000).astype(int)
        revenue = np.round(employees * rng.lognormal(np.log(150_000), 0.45, n), -4).astype(np.int64)
        missing_employees = rng.random(n) < 0.03
        missing_revenue = rng.random(n) < 0.08
        size_z = _standardize(np.log(employees))
        industry_bonus = np.array([vocab.INDUSTRIES[industries[i]][1] for i in industry_idx])

        self.company_country = country_idx
        self.company_employees = employees
        self.company_fit = industry_bonus + 0.35 * size_z
        self.company_industry = [industries[i] for i in industry_idx]
        self.company_owner = [vocab.REPS[i] for i in rng.integers(len(vocab.REPS), size=n)]
        self.company_rows: list[dict[str, Any]] = []
        used: set[str] = set()
        for i in range(n):
            country = vocab.COUNTRIES[country_idx[i]]
            nouns = vocab.INDUSTRIES[industries[industry_idx[i]]][2]
            base = self.unique_company_base(nouns=nouns, used=used, index=i)
            suffixes = vocab.LEGAL_SUFFIX[country.name]
            legal = rnd.choice(suffixes)
            name = f"{base} {legal}" if rnd.random() < 0.85 else base
            separator = "-" if rnd.random() < 0.2 else ""
            self.company_rows.append(
                {
                    "name": name,
                    "domain": f"{_ascii_slug(base, separator=separator)}.{country.tld}",
                    "industry": industries[industry_idx[i]] if rnd.random() > 0.04 else "",
                    "employee_count": None if missing_employees[i] else int(employees[i]),
                    "annual_revenue": None if missing_revenue[i] else int(revenue[i]),
                    "country": country.name,
                    "city": rnd.choice(country.cities),
                    "time_zone": country.time_zone,
                }
            )

    def unique_company_base(self, *, nouns: tuple[str, ...], used: set[str], index: int) -> str:
        rnd = self.rnd
        for attempt in range(40):
            stem = rnd.choice(vocab.COMPANY_STEMS)
            noun = rnd.choice(nouns)
            if attempt >= 20:  # the simple names of this industry are running out
                stem = f"{stem} {rnd.choice(vocab.COMPANY_STEMS)}"
            base = f"{stem} {noun}"
            if base not in used:
                used.add(base)
                return base
        base = f"{stem} {noun} {index}"
        used.add(base)
        return base

    def make_contacts(self, m: int) -> None:
        rng, rnd = self.rng, self.rnd
        now = self.now
        n_companies = len(self.company_rows)
        # Oldest first, so the contact index is also the creation order (ids grow with time, as in a CRM).
        ages = np.sort(rng.uniform(0.5, HISTORY_DAYS, m))[::-1]
        company_weights = _weights(np.sqrt(self.company_employees))
        company_of = rng.choice(n_companies, size=m, p=company_weights)
        company_of[rng.random(m) < 0.05] = -1
        seniority_idx = rng.choice(len(vocab.SENIORITIES), size=m, p=_weights([s[1] for s in vocab.SENIORITIES]))
        functions = list(vocab.FUNCTIONS)
        function_idx = rng.choice(len(functions), size=m, p=_weights([vocab.FUNCTIONS[f][0] for f in functions]))
        sources = list(vocab.LEAD_SOURCES)
        source_idx = rng.choice(len(sources), size=m, p=_weights([vocab.LEAD_SOURCES[s][0] for s in sources]))
        corporate = (company_of >= 0) & (rng.random(m) < 0.85)
        first_idx = rng.integers(len(vocab.FIRST_NAMES), size=m)
        last_idx = rng.integers(len(vocab.LAST_NAMES), size=m)

        has_company = company_of >= 0
        fit_raw = (
            np.where(has_company, self.company_fit[np.maximum(company_of, 0)], -0.3)
            + np.array([vocab.SENIORITIES[i][2] for i in seniority_idx])
            + np.array([vocab.FUNCTIONS[functions[i]][1] for i in function_idx])
            + np.array([vocab.LEAD_SOURCES[sources[i]][1] for i in source_idx])
            + 0.3 * corporate
            + rng.normal(0, 0.5, m)
        )
        fit = _standardize(fit_raw)
        engagement = 0.3 * fit + 0.95 * rng.normal(0, 1, m)
        budget = rng.normal(0, 1, m)
        newsletter_opens = rng.poisson(2.0 * np.exp(0.6 * engagement))

        self.ages = ages
        self.company_of = company_of
        self.fit, self.engagement, self.budget = fit, engagement, budget
        self.contact_function = [functions[i] for i in function_idx]
        self.contact_rows: list[dict[str, Any]] = []
        emails_taken: set[str] = set()
        window_start = now - timedelta(days=HISTORY_DAYS + 1)
        for i in range(m):
            first = vocab.FIRST_NAMES[first_idx[i]]
            last = vocab.LAST_NAMES[last_idx[i]]
            company = company_of[i]
            country_index = self.company_country[company] if company >= 0 else rnd.randrange(len(vocab.COUNTRIES))
            country = vocab.COUNTRIES[country_index]
            email = self.contact_email(
                first=first,
                last=last,
                domain=self.company_rows[company]["domain"] if corporate[i] else None,
                taken=emails_taken,
            )
            seniority = vocab.SENIORITIES[seniority_idx[i]][0]
            function = functions[function_idx[i]]
            title = seniority.format(function=function, chief=vocab.CHIEF_TITLES[function])
            if rnd.random() < 0.07:
                title = ""
            owner = self.company_owner[company] if company >= 0 and rnd.random() < 0.8 else rnd.choice(vocab.REPS)
            created = self.business_time(now - timedelta(days=float(ages[i])), lo=window_start, hi=now)
            employees = self.company_employees[company] if company >= 0 else 5
            budget_band = min(max(int(np.searchsorted([20, 200, 2000], employees)) + rnd.randrange(-1, 2), 0), 3)
            language = country.language if rnd.random() < 0.7 else "English"
            self.contact_rows.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "phone": self.phone(prefix=country.phone_prefix) if rnd.random() > 0.25 else "",
                    "job_title": title,
                    "lead_source": sources[source_idx[i]],
                    "owner_email": owner,
                    "created_at": created,
                    "preferred_language": language,
                    "product_interest": rnd.choice(vocab.PRODUCTS) if rnd.random() > 0.2 else "",
                    "budget_range": vocab.BUDGET_RANGES[budget_band] if rnd.random() > 0.3 else "",
                    "newsletter_opens": int(newsletter_opens[i]),
                }
            )

    def contact_email(self, *, first: str, last: str, domain: str | None, taken: set[str]) -> str:
        rnd = self.rnd
        f, surname = _ascii_slug(first), _ascii_slug(last)
        if domain:
            local = (f"{f}.{surname}", f"{f[0]}{surname}", f, f"{f}_{surname}")[
                rnd.choices(range(4), weights=(0.55, 0.25, 0.1, 0.1))[0]
            ]
        else:
            domain = rnd.choice(vocab.FREE_EMAIL_DOMAINS)
            local = (
                f"{f}.{surname}",
                f"{f}{surname}{rnd.randrange(1, 99)}",
                f"{f[0]}{surname}{rnd.randrange(60, 99)}",
            )[rnd.randrange(3)]
        email = f"{local}@{domain}"
        counter = 2
        while email in taken:
            email = f"{local}{counter}@{domain}"
            counter += 1
        taken.add(email)
        return email

    def phone(self, *, prefix: str) -> str:
        digits = [self.rnd.randrange(10) for _ in range(10)]
        if prefix == "+1":  # 555-01xx numbers are reserved for fiction
            return f"+1 {200 + int(digits[0]) * 70 + int(digits[1])} 555 01{digits[2]}{digits[3]}"
        return f"{prefix} {digits[0] + 1}{digits[1]} {''.join(str(d) for d in digits[2:9])}"

    def decide_outcomes(self) -> None:
        rng = self.rng
        m = len(self.contact_rows)
        logits = FIT_WEIGHT * self.fit + ENGAGEMENT_WEIGHT * self.engagement + BUDGET_WEIGHT * self.budget
        self.buy_logit = logits + _offset_for_mean(logits, BUYER_SHARE)
        self.buyer = rng.random(m) < _sigmoid(self.buy_logit)
        delay_days = np.clip(rng.lognormal(np.log(45), 0.6, m), 7, 300)
        self.converted = self.buyer & (self.ages > delay_days + 1)
        self.pending = self.buyer & ~self.converted  # buying, not there yet: today's hot opportunities
        self.opted_out = ~self.buyer & (rng.random(m) < 0.15 * _sigmoid(-1.5 * self.engagement - 0.5))
        self.converted_at: list[datetime | None] = [None] * m
        for i in np.flatnonzero(self.converted):
            created = self.contact_rows[i]["created_at"]
            target = created + timedelta(days=float(delay_days[i]))
            self.converted_at[i] = self.business_time(target, lo=created + timedelta(hours=1), hi=self.now)

    def allocate_activities(self, total: int) -> None:
        """Spread exactly `total` activities over contacts: engaged and older contacts get more.

        The intent to buy does not change the count (only engagement does), so a model that counts
        activities cannot see the budget factor; every customer has at least one activity before buying.
        """
        rng = self.rng
        minimum = np.where(self.converted | self.opted_out, 1, 0)
        if total < minimum.sum():
            raise ValueError(f"activities must be at least {int(minimum.sum())} for this many contacts")
        weight = np.exp(0.8 * self.engagement) * np.sqrt(np.clip(self.ages, 3, HISTORY_DAYS) / HISTORY_DAYS)
        counts = minimum + rng.multinomial(total - int(minimum.sum()), weight / weight.sum())
        # About a quarter of a customer's activities (beyond the one that led to the sale) follow it.
        post = np.where(self.converted, rng.binomial(np.maximum(counts - 1, 0), 0.25), 0)
        for i in np.flatnonzero(post):
            if self.now - self.converted_at[i] < timedelta(days=1):
                post[i] = 0
        self.activity_counts = counts
        self.post_counts = post

    def make_deals(self, n_deals: int) -> None:
        rng, rnd = self.rng, self.rnd
        now = self.now
        has_company = self.company_of >= 0
        self.deal_rows: list[dict[str, Any]] = []
        self.deal_of_contact: dict[int, int] = {}

        won_candidates = np.flatnonzero(self.converted & has_company)
        won = rng.permutation(won_candidates)[:n_deals]
        for i in sorted(won):
            created = self.contact_rows[i]["created_at"]
            converted_at = self.converted_at[i]
            opened = self.between(created, converted_at, rnd.uniform(0.4, 0.75))
            self.add_deal(
                i,
                opened=opened,
                status="won",
                stage=vocab.WON_STAGE,
                close_date=converted_at.date(),
                closed_at=converted_at,
            )

        remaining = n_deals - len(won)
        candidates = np.flatnonzero(~self.converted & has_company)
        if remaining > len(candidates):
            raise ValueError(f"deals must be at most {len(won) + len(candidates)} for this many contacts")
        # The most promising contacts get the remaining deals; Gumbel noise makes it a weighted draw.
        score = self.buy_logit[candidates] + 3.0 * self.pending[candidates] + rng.gumbel(size=len(candidates))
        chosen = candidates[np.argsort(-score, kind="stable")[:remaining]]
        open_stages = [s for s, _ in vocab.OPEN_DEAL_STAGES]
        open_weights = _weights([w for _, w in vocab.OPEN_DEAL_STAGES])
        for i in sorted(chosen):
            created = self.contact_rows[i]["created_at"]
            age = now - created
            opened = self.between(created, now, float(min(rnd.uniform(2, 40) / max(age.days, 1), 0.9)))
            cycle = timedelta(days=rnd.uniform(20, 120))
            if not self.pending[i] and opened + cycle < now:
                closed_at = self.business_time(opened + cycle, lo=opened, hi=now)
                self.add_deal(
                    i,
                    opened=opened,
                    status="lost",
                    stage=vocab.LOST_STAGE,
                    close_date=closed_at.date(),
                    closed_at=closed_at,
                )
            else:
                stage_index = rnd.choices(range(len(open_stages)), weights=open_weights)[0]
                if self.pending[i]:  # buyers are further down the pipeline
                    stage_index = max(stage_index, rnd.randrange(2, len(open_stages)))
                expected = now.date() + timedelta(days=rnd.randrange(7, 90))
                self.add_deal(
                    i, opened=opened, status="open", stage=open_stages[stage_index], close_date=expected, closed_at=None
                )

    def add_deal(
        self, contact: int, *, opened: datetime, status: str, stage: str, close_date: date, closed_at: datetime | None
    ) -> None:
        rnd = self.rnd
        company = int(self.company_of[contact])
        employees = int(self.company_employees[company])
        amount = max(1000, int(round(3000 * employees**0.45 * rnd.lognormvariate(0, 0.4), -2)))
        seats = self.seats(contact)
        product = self.contact_rows[contact]["product_interest"] or rnd.choice(vocab.PRODUCTS)
        company_row = self.company_rows[company]
        self.deal_of_contact[contact] = len(self.deal_rows)
        self.deal_rows.append(
            {
                "contact": contact,
                "company": company,
                "name": f"{company_row['name']} - {product} ({seats} seats)",
                "amount": amount,
                "currency": vocab.COUNTRIES[self.company_country[company]].currency,
                "pipeline": vocab.DEAL_PIPELINE,
                "stage": stage,
                "status": status,
                "close_date": close_date,
                "created_at": opened,
                "closed_at": closed_at,
                "owner_email": self.contact_rows[contact]["owner_email"],
                "last_activity": opened,
            }
        )

    def seats(self, contact: int) -> int:
        company = int(self.company_of[contact])
        employees = int(self.company_employees[company]) if company >= 0 else 10
        # Stable per contact (not drawn from the shared stream), so every mention quotes the same number.
        share = 0.05 + 0.25 * ((contact * 7919) % 100) / 100
        return min(max(round(employees * share / 5) * 5, 5), 500)

    def make_activities(self) -> None:
        self.activity_rows: list[dict[str, Any]] = []
        for i in range(len(self.contact_rows)):
            if self.activity_counts[i]:
                self.contact_activities(i)

    def contact_activities(self, i: int) -> None:
        rng, rnd = self.rng, self.rnd
        contact = self.contact_rows[i]
        created = contact["created_at"]
        converted_at = self.converted_at[i]
        total = int(self.activity_counts[i])
        n_post = int(self.post_counts[i])
        n_pre = total - n_post
        end = converted_at or self.now
        # Buyers ramp up towards the decision; everyone else fades after the first touches.
        a, b = (1.6, 1.0) if self.buyer[i] else (1.0, 1.6)
        pre_times = sorted(self.between(created, end, float(f)) for f in rng.beta(a, b, n_pre))
        post_times = sorted(self.between(converted_at, self.now, float(f)) for f in rng.beta(1.0, 1.5, n_post))

        heat = float(_scalar_sigmoid(self.engagement[i] + 0.5 * self.fit[i]))
        kinds = ("email_out", "email_in", "call", "meeting", "note", "task")
        pre_mix = _weights([0.42 - 0.17 * heat, 0.08 + 0.14 * heat, 0.18, 0.03 + 0.10 * heat, 0.16, 0.13 - 0.05 * heat])
        for position, when in enumerate(pre_times):
            if self.opted_out[i] and position == n_pre - 1:
                self.add_activity(i, when, *self.opt_out_email(i, when))
                continue
            kind = kinds[rnd.choices(range(len(kinds)), weights=pre_mix)[0]]
            self.add_activity(i, when, *self.prospecting_activity(i, kind, when))
        post_mix = _weights([0.15, 0.20, 0.0, 0.30, 0.25, 0.10])
        for when in post_times:
            kind = kinds[rnd.choices(range(len(kinds)), weights=post_mix)[0]]
            self.add_activity(i, when, *self.onboarding_activity(i, kind, when), after_conversion=True)

    def details(self, i: int, when: datetime) -> dict[str, str]:
        contact = self.contact_rows[i]
        company = int(self.company_of[i])
        return text_details(
            rnd=self.rnd,
            when=when,
            first_name=contact["first_name"],
            company=self.company_rows[company]["name"] if company >= 0 else "",
            industry=self.company_industry[company] if company >= 0 else "",
            seats=self.seats(i),
            function=self.contact_function[i],
            product=contact["product_interest"] or "our platform",
        )

    def prospect_signal(self, i: int) -> Signal:
        """What a prospect's words reveal: budget (hidden factor), interest (engagement + fit), or nothing."""
        rnd = self.rnd
        u = rnd.random()
        if u < 0.1:  # noise: sometimes the words say something unrelated to the latent state
            return (Signal.BUDGET_POSITIVE, Signal.BUDGET_NEGATIVE, Signal.INTEREST_POSITIVE, Signal.INTEREST_NEGATIVE)[
                rnd.randrange(4)
            ]
        if u < 0.3:
            return Signal.NEUTRAL
        if u < 0.75:
            return self.budget_signal(i)
        positive = rnd.random() < _scalar_sigmoid(1.3 * self.engagement[i] + 0.6 * self.fit[i])
        return Signal.INTEREST_POSITIVE if positive else Signal.INTEREST_NEGATIVE

    def budget_signal(self, i: int) -> Signal:
        """Money and urgency, in words: the more budget the contact has, the likelier the positive wording."""
        positive = self.rnd.random() < _scalar_sigmoid(2.2 * self.budget[i])
        return Signal.BUDGET_POSITIVE if positive else Signal.BUDGET_NEGATIVE

    def prospect_signals(self, i: int, *, most: int) -> list[Signal]:
        count = 1 if most == 1 else self.rnd.randrange(1, most + 1)
        signals: list[Signal] = []
        for _ in range(count):
            signal = self.prospect_signal(i)
            if signal not in signals:
                signals.append(signal)
        return signals

    def prospecting_activity(self, i: int, kind: str, when: datetime) -> tuple[str, str, str, str, list[Signal]]:
        """(kind, direction, subject, body, signals) of one activity before any conversion."""
        rnd = self.rnd
        details = self.details(i, when)
        if kind == "email_out":
            signal = Signal.NEUTRAL
            if rnd.random() < 0.3:  # the rep answers what the prospect said about money
                signal = self.budget_signal(i)
            subject = pick(rnd=rnd, options=REP_SUBJECTS, details=details)
            return "email", "outbound", subject, rep_email_text(rnd=rnd, signal=signal, details=details), [signal]
        if kind == "email_in":
            signals = self.prospect_signals(i, most=2)
            subject = (
                f"Re: {pick(rnd=rnd, options=REP_SUBJECTS, details=details)}"
                if rnd.random() < 0.7
                else pick(rnd=rnd, options=PROSPECT_SUBJECTS, details=details)
            )
            return "email", "inbound", subject, prospect_email_text(rnd=rnd, signals=signals, details=details), signals
        if kind == "call":
            direction = "inbound" if rnd.random() < 0.15 else "outbound"
            subject = pick(rnd=rnd, options=CALL_SUBJECTS, details=details)
            heat = float(_scalar_sigmoid(self.engagement[i]))
            if direction == "outbound" and rnd.random() > 0.35 + 0.45 * heat:
                body = rnd.choice(("Left a voicemail.", "No answer.", "Went to voicemail, will try again."))
                return "call", direction, subject, body, [Signal.NEUTRAL]
            signals = self.prospect_signals(i, most=2)
            return "call", direction, subject, note_text(rnd=rnd, signals=signals, details=details), signals
        if kind == "meeting":
            signals = self.prospect_signals(i, most=3)
            subject = pick(rnd=rnd, options=MEETING_SUBJECTS, details=details)
            return "meeting", "", subject, note_text(rnd=rnd, signals=signals, details=details), signals
        if kind == "note":
            signals = self.prospect_signals(i, most=2)
            return "note", "", "", note_text(rnd=rnd, signals=signals, details=details), signals
        subject = pick(rnd=rnd, options=TASK_SUBJECTS, details=details)
        body = "" if rnd.random() < 0.6 else rnd.choice(("Due this week.", "High priority.", "See last call notes."))
        return "task", "", subject, body, [Signal.NEUTRAL]

    def onboarding_activity(self, i: int, kind: str, when: datetime) -> tuple[str, str, str, str, list[Signal]]:
        rnd = self.rnd
        details = self.details(i, when)
        signals = [Signal.ONBOARDING]
        if kind == "email_out":
            subject = f"Welcome to {details['product']}"
            body = rep_email_text(rnd=rnd, signal=Signal.ONBOARDING, details=details)
            return "email", "outbound", subject, body, signals
        if kind == "email_in":
            subject = pick(rnd=rnd, options=PROSPECT_SUBJECTS, details=details)
            return "email", "inbound", subject, prospect_email_text(rnd=rnd, signals=signals, details=details), signals
        if kind == "meeting":
            subject = pick(rnd=rnd, options=ONBOARDING_MEETING_SUBJECTS, details=details)
            return "meeting", "", subject, note_text(rnd=rnd, signals=signals, details=details), signals
        if kind == "note":
            return "note", "", "", note_text(rnd=rnd, signals=signals, details=details), signals
        return "task", "", f"Schedule a review with {details['first']}", "", signals

    def opt_out_email(self, i: int, when: datetime) -> tuple[str, str, str, str, list[Signal]]:
        details = self.details(i, when)
        subject = f"Re: {pick(rnd=self.rnd, options=REP_SUBJECTS, details=details)}"
        body = prospect_email_text(rnd=self.rnd, signals=[Signal.OPT_OUT], details=details)
        return "email", "inbound", subject, body, [Signal.OPT_OUT]

    def add_activity(
        self,
        i: int,
        when: datetime,
        kind: str,
        direction: str,
        subject: str,
        body: str,
        signals: list[Signal],
        *,
        after_conversion: bool = False,
    ) -> None:
        deal = None
        deal_index = self.deal_of_contact.get(i)
        if deal_index is not None:
            row = self.deal_rows[deal_index]
            closed_at = row["closed_at"]
            if row["created_at"] <= when and (closed_at is None or when <= closed_at):
                deal = deal_index
                row["last_activity"] = max(row["last_activity"], when)
        self.activity_rows.append(
            {
                "contact": i,
                "deal": deal,
                "kind": kind,
                "direction": direction,
                "subject": subject,
                "body": body,
                "occurred_at": when,
                "signals": tuple(str(s) for s in signals),
                "after_conversion": after_conversion,
            }
        )

    # The churn story (own streams: nothing above draws differently because of it) ---------------------

    def make_churn(self) -> None:
        rng = np.random.default_rng([self.seed, CHURN_STREAM])
        rnd = random.Random(f"churn:{self.seed}")
        n = len(self.company_rows)
        self.company_health: list[float | None] = [None] * n
        self.company_churned_at: list[datetime | None] = [None] * n
        self.accounts: dict[int, _Account] = {}
        first: dict[int, datetime] = {}
        last: dict[int, datetime] = {}
        engagement: dict[int, list[float]] = {}
        people: dict[int, list[tuple[datetime, int]]] = {}
        for i in np.flatnonzero(self.converted):
            c = int(self.company_of[i])
            if c < 0:
                continue
            when = self.converted_at[i]
            first[c] = min(first.get(c, when), when)
            last[c] = max(last.get(c, when), when)
            engagement.setdefault(c, []).append(float(self.engagement[i]))
            people.setdefault(c, []).append((when, int(i)))
        customers = sorted(first)
        if not customers:
            return
        fit = _standardize(self.company_fit[customers])
        engaged = _standardize(np.array([np.mean(engagement[c]) for c in customers]))
        health = _standardize(0.45 * fit + 0.35 * engaged + rng.normal(0, 1, len(customers)))
        tenure = np.array([(self.now - first[c]).total_seconds() / 86_400 for c in customers])
        offset = _lifetime_offset(health=health, tenure=tenure)
        lifetime = CHURN_MIN_LIFETIME_DAYS + rng.exponential(1.0, len(customers)) * np.exp(
            offset + CHURN_HEALTH_WEIGHT * health
        )
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        for position, c in enumerate(customers):
            self.company_health[c] = float(health[position])
            churn = max(
                first[c] + timedelta(days=float(lifetime[position])),
                last[c] + timedelta(days=CHURN_AFTER_LAST_SALE_DAYS),
            )
            day = churn.replace(hour=0, minute=0, second=0, microsecond=0)
            if day < today:
                self.company_churned_at[c] = day  # churn is a date: the account is gone from that midnight on
        # The accounts' post-sale life: a second stream, so the churn dates above never depend on it.
        life_rng = np.random.default_rng([self.seed, CHURN_STREAM, 1])
        life_rnd = random.Random(f"account-life:{self.seed}")
        self.accounts = {
            c: self.account_profile(c, start=first[c], people=sorted(people[c]), rng=life_rng) for c in customers
        }
        for row in self.activity_rows:
            if row["after_conversion"]:
                self.account_reword(row, rnd=rnd)
        for c in customers:
            self.account_life(self.accounts[c], rng=life_rng, rnd=life_rnd)

    def account_profile(
        self, c: int, *, start: datetime, people: list[tuple[datetime, int]], rng: np.random.Generator
    ) -> _Account:
        churned_at = self.company_churned_at[c]
        health = float(self.company_health[c])
        end = churned_at or self.now
        draws = rng.random(4)
        patch = None
        if churned_at is None and draws[0] < ACCOUNT_ROUGH_PATCH_SHARE and end - start > timedelta(days=60):
            patch_start = start + (end - start - timedelta(days=30)) * float(draws[1])
            patch = (patch_start, patch_start + timedelta(days=float(rng.uniform(30, 60))))
        return _Account(
            company=c,
            start=start,
            end=end,
            churned=churned_at is not None,
            health=health,
            warning_days=float(rng.uniform(*ACCOUNT_WARNING_DAYS)),
            polite=churned_at is not None and draws[2] < ACCOUNT_POLITE_CHURNER_SHARE,
            steady=churned_at is not None and draws[3] < ACCOUNT_STEADY_CHURNER_SHARE,
            rough_patch=patch,
            people=people,
            monthly_rate=float(ACCOUNT_MONTHLY_ACTIVITIES * math.exp(0.25 * health + rng.normal(0, 0.25))),
        )

    def account_reword(self, row: dict[str, Any], *, rnd: random.Random) -> None:
        """Re-time (churning accounts) and re-word one post-sale activity the lead story already drew."""
        i = row["contact"]
        c = int(self.company_of[i])
        account = self.accounts.get(c)
        if account is None:
            return
        converted_at = self.converted_at[i]
        churned_at = self.company_churned_at[c]
        when = row["occurred_at"]
        if churned_at is not None:
            # Squeeze the account's activity before its churn, thinning towards the end.
            fraction = (when - converted_at) / max(self.now - converted_at, timedelta(minutes=1))
            when = converted_at + (churned_at - converted_at) * float(fraction) ** 1.7
            when = _weekday_time(when, lo=converted_at, hi=churned_at, rnd=rnd)
            row["occurred_at"] = when
        if when - converted_at < timedelta(days=CHURN_ONBOARDING_DAYS) and rnd.random() < 0.7:
            return  # the first weeks are onboarding, healthy or not
        signal = account.signal(when, u=rnd.random(), v=rnd.random())
        row["subject"], row["body"] = account_activity_text(
            rnd=rnd,
            kind=row["kind"],
            direction=row["direction"],
            signal=signal,
            details=self.account_details(i, c, when, rnd=rnd),
        )
        row["signals"] = (str(signal),)

    def account_life(self, account: _Account, *, rng: np.random.Generator, rnd: random.Random) -> None:
        """Add the account's own post-sale activities: check-in calls, reviews, support emails, usage notes.

        How many follows health (a noisy monthly rate); when they happen, what kind they are and what
        they say follow `account.risk`: as churn nears, fewer reviews and more inbound emails and calls
        (unless the account is `steady`), and complaining words (unless it is `polite`)."""
        lo = account.start + timedelta(days=ACCOUNT_LIFE_AFTER_SALE_DAYS)
        hi = min(account.end, self.now)
        if hi - lo < timedelta(days=1):
            return
        months = (hi - account.start).total_seconds() / (30 * 86_400)
        least = min(ACCOUNT_ACTIVITIES_RANGE[0], max(1, round(2 * months)))
        count = int(np.clip(rng.poisson(account.monthly_rate * months), least, ACCOUNT_ACTIVITIES_RANGE[1]))
        times: list[datetime] = []
        for _ in range(count * 20):  # thinning: an account about to leave talks to us less
            if len(times) == count:
                break
            when = lo + (hi - lo) * float(rng.random())
            if rng.random() < 1 - 0.5 * account.habit_risk(when):
                times.append(when)
        for when in sorted(times):
            when = _weekday_time(when, lo=lo, hi=hi, rnd=rnd)
            habit = account.habit_risk(when)
            weights = [ACCOUNT_KIND_MIX[k] for k in ACCOUNT_KINDS]
            weights[ACCOUNT_KINDS.index("meeting")] *= 1 - 0.9 * habit
            weights[ACCOUNT_KINDS.index("call_out")] *= 1 - 0.5 * habit
            weights[ACCOUNT_KINDS.index("email_in")] += 0.5 * habit
            weights[ACCOUNT_KINDS.index("call_in")] += 0.2 * habit
            kind = ACCOUNT_KINDS[rnd.choices(range(len(ACCOUNT_KINDS)), weights=weights)[0]]
            active = [i for converted_at, i in account.people if converted_at <= when] or [account.people[0][1]]
            i = rnd.choice(active)
            signal = account.signal(when, u=rnd.random(), v=rnd.random())
            activity_kind, direction = ACCOUNT_KIND_FIELDS[kind]
            subject, body = account_activity_text(
                rnd=rnd,
                kind=activity_kind,
                direction=direction,
                signal=signal,
                details=self.account_details(i, account.company, when, rnd=rnd),
                life=True,
            )
            self.activity_rows.append(
                {
                    "contact": i,
                    "deal": None,
                    "kind": activity_kind,
                    "direction": direction,
                    "subject": subject,
                    "body": body,
                    "occurred_at": when,
                    "signals": (str(signal),),
                    "after_conversion": True,
                    "account_story": True,
                }
            )

    def account_details(self, i: int, c: int, when: datetime, *, rnd: random.Random) -> dict[str, str]:
        return text_details(
            rnd=rnd,
            when=when,
            first_name=self.contact_rows[i]["first_name"],
            company=self.company_rows[c]["name"],
            industry=self.company_industry[c],
            seats=self.seats(i),
            function=self.contact_function[i],
            product=self.contact_rows[i]["product_interest"] or "our platform",
        )

    def finish_contacts(self) -> None:
        """Lifecycle stage, lead status and last-modified time follow from what happened."""
        touched: dict[int, set[str]] = {}
        last_activity: dict[int, datetime] = {}
        for row in self.activity_rows:
            i = row["contact"]
            last_activity[i] = max(last_activity.get(i, row["occurred_at"]), row["occurred_at"])
            if row["after_conversion"]:
                continue
            if row["kind"] == "meeting" or (row["kind"] == "call" and row["signals"] != ("neutral",)):
                touched.setdefault(i, set()).add("conversation")
            elif row["direction"] == "inbound":
                touched.setdefault(i, set()).add("inbound")
            else:
                touched.setdefault(i, set()).add("any")
        for i, contact in enumerate(self.contact_rows):
            deal_index = self.deal_of_contact.get(i)
            deal_status = self.deal_rows[deal_index]["status"] if deal_index is not None else None
            seen = touched.get(i, set())
            if self.converted[i]:
                stage, status = "customer", "Connected"
            elif deal_status == "open":
                stage, status = "opportunity", "Open deal"
            elif deal_status == "lost":
                stage, status = "sql", "Bad timing"
            elif self.opted_out[i]:
                stage, status = "lead", "Unqualified"
            elif "conversation" in seen:
                stage, status = "sql", "In progress"
            elif "inbound" in seen:
                stage, status = "mql", "Connected"
            elif seen:
                stage, status = "lead", "Attempted to contact"
            else:
                stage, status = "lead", "New"
            contact["lifecycle_stage"] = stage
            contact["lead_status"] = status
            moments = [contact["created_at"], last_activity.get(i, contact["created_at"])]
            if self.converted_at[i]:
                moments.append(self.converted_at[i])
            if deal_index is not None:
                moments.append(self.deal_rows[deal_index]["created_at"])
            contact["updated_at"] = max(moments)

    def assemble(self) -> DemoCRM:
        """Give every row its record id (ids grow with creation time, as in a CRM) and freeze the rows."""
        rnd = self.rnd
        now = self.now
        crm = DemoCRM(seed=self.seed, now=now)
        n_companies = len(self.company_rows)
        first_contact: dict[int, datetime] = {}
        last_contact: dict[int, datetime] = {}
        for i, contact in enumerate(self.contact_rows):
            company = int(self.company_of[i])
            if company >= 0:
                created = contact["created_at"]
                first_contact[company] = min(first_contact.get(company, created), created)
                last_contact[company] = max(last_contact.get(company, created), created)
        company_created = []
        for c in range(n_companies):
            if c in first_contact:
                # The company record is created with, or shortly before, its first contact.
                before = first_contact[c] - timedelta(days=rnd.uniform(0, 20))
                latest = first_contact[c] + timedelta(minutes=1)
                company_created.append(self.business_time(before, lo=before, hi=latest))
            else:
                company_created.append(
                    self.business_time(now - timedelta(days=rnd.uniform(30, 900)), lo=now - timedelta(days=901), hi=now)
                )
        company_order = sorted(range(n_companies), key=lambda c: (company_created[c], c))
        company_ids = {c: str(310_000_001 + rank) for rank, c in enumerate(company_order)}
        for c in company_order:
            row = self.company_rows[c]
            crm.companies.append(
                DemoCompany(
                    external_id=company_ids[c],
                    name=row["name"],
                    domain=row["domain"],
                    industry=row["industry"],
                    employee_count=row["employee_count"],
                    annual_revenue=row["annual_revenue"],
                    country=row["country"],
                    city=row["city"],
                    owner_email=self.company_owner[c],
                    time_zone=row["time_zone"],
                    created_at=company_created[c],
                    updated_at=max(
                        company_created[c],
                        last_contact.get(c, company_created[c]),
                        self.company_churned_at[c] or company_created[c],
                    ),
                    churn_date=self.company_churned_at[c].date() if self.company_churned_at[c] else None,
                    health=self.company_health[c],
                )
            )

        contact_ids = [str(510_000_001 + i) for i in range(len(self.contact_rows))]
        for i, row in enumerate(self.contact_rows):
            company = int(self.company_of[i])
            crm.contacts.append(
                DemoContact(
                    external_id=contact_ids[i],
                    company_external_id=company_ids[company] if company >= 0 else "",
                    first_name=row["first_name"],
                    last_name=row["last_name"],
                    email=row["email"],
                    phone=row["phone"],
                    job_title=row["job_title"],
                    lead_source=row["lead_source"],
                    lead_status=row["lead_status"],
                    lifecycle_stage=row["lifecycle_stage"],
                    owner_email=row["owner_email"],
                    opted_out=bool(self.opted_out[i]),
                    created_at=row["created_at"],
                    converted_at=self.converted_at[i],
                    updated_at=row["updated_at"],
                    preferred_language=row["preferred_language"],
                    product_interest=row["product_interest"],
                    budget_range=row["budget_range"],
                    newsletter_opens=row["newsletter_opens"],
                    fit=float(self.fit[i]),
                    engagement=float(self.engagement[i]),
                    budget_urgency=float(self.budget[i]),
                )
            )

        deal_order = sorted(range(len(self.deal_rows)), key=lambda d: (self.deal_rows[d]["created_at"], d))
        deal_ids = {d: str(710_000_001 + rank) for rank, d in enumerate(deal_order)}
        for d in deal_order:
            row = self.deal_rows[d]
            updated = max(row["created_at"], row["last_activity"], row["closed_at"] or row["created_at"])
            crm.deals.append(
                DemoDeal(
                    external_id=deal_ids[d],
                    company_external_id=company_ids[row["company"]],
                    contact_external_id=contact_ids[row["contact"]],
                    name=row["name"],
                    amount=row["amount"],
                    currency=row["currency"],
                    pipeline=row["pipeline"],
                    stage=row["stage"],
                    status=row["status"],
                    close_date=row["close_date"],
                    created_at=row["created_at"],
                    updated_at=updated,
                    owner_email=row["owner_email"],
                    closed_at=row["closed_at"],
                )
            )
        self.deal_contact_pending = {deal_ids[d]: bool(self.pending[self.deal_rows[d]["contact"]]) for d in deal_order}

        activity_order = sorted(range(len(self.activity_rows)), key=lambda a: (self.activity_rows[a]["occurred_at"], a))
        for rank, a in enumerate(activity_order):
            row = self.activity_rows[a]
            i = row["contact"]
            company = int(self.company_of[i])
            crm.activities.append(
                DemoActivity(
                    external_id=str(910_000_001 + rank),
                    kind=row["kind"],
                    direction=row["direction"],
                    subject=row["subject"],
                    body=row["body"],
                    occurred_at=row["occurred_at"],
                    contact_external_id=contact_ids[i],
                    company_external_id=company_ids[company] if company >= 0 else "",
                    deal_external_id=deal_ids[row["deal"]] if row["deal"] is not None else "",
                    signals=row["signals"],
                    after_conversion=row["after_conversion"],
                    account_story=row.get("account_story", False),
                )
            )
        return crm

    def tell_deal_story(self, crm: DemoCRM, *, n_history_deals: int) -> None:
        """Histories for the lead story's deals and the history deals with their notes, from the deal story's own
        random streams (last: nothing above draws after it)."""
        story = DealStory(seed=self.seed, now=self.now)
        for deal in crm.deals:
            story.lead_deal_history(deal, pending_buyer=self.deal_contact_pending[deal.external_id])
        rows = story.history_deals(n_history_deals, first_id=720_000_001)
        # Notes never end after the last activity of the other stories: the lead frames' "latest data" stays put.
        latest = max((a.occurred_at for a in crm.activities), default=self.now)
        notes = []
        for row in rows:
            for moment, text in row.pop("notes"):
                if moment <= latest:
                    notes.append((moment, row["external_id"], text))
            crm.history_deals.append(DemoDeal(**row))
        for rank, (moment, deal_id, text) in enumerate(sorted(notes)):
            crm.deal_notes.append(
                DemoActivity(
                    external_id=str(930_000_001 + rank),
                    kind="note",
                    direction="",
                    subject="Deal update",
                    body=text,
                    occurred_at=moment,
                    contact_external_id="",
                    company_external_id="",
                    deal_external_id=deal_id,
                    deal_story=True,
                )
            )
        crm.deal_history = story.history
        crm.deal_future = story.future
        crm.pipeline_stages = pipeline_stages()


# --- CSV export -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    header: str
    attribute: str
    field: str | None = None  # our model field; None makes it a custom property


@dataclass(frozen=True)
class _Export:
    object_type: str
    file: str
    rows: tuple[str, ...]  # the DemoCRM attributes holding the rows, in export order
    columns: tuple[_Column, ...]


# Headers as a HubSpot export names them; the order is the order of the CSV columns.
EXPORTS: tuple[_Export, ...] = (
    _Export(
        "companies",
        "companies.csv",
        ("companies",),
        (
            _Column("Record ID", "external_id", "external_id"),
            _Column("Company name", "name", "name"),
            _Column("Company Domain Name", "domain", "domain"),
            _Column("Industry", "industry", "industry"),
            _Column("Number of Employees", "employee_count", "employee_count"),
            _Column("Annual Revenue", "annual_revenue", "annual_revenue"),
            _Column("Country/Region", "country", "country"),
            _Column("City", "city", "city"),
            _Column("Create Date", "created_at"),
            _Column("Company owner", "owner_email"),
            _Column("Time Zone", "time_zone"),
            _Column("Last Modified Date", "updated_at", "remote_updated_at"),
            _Column("churn_date", "churn_date"),  # a custom date property, as CRM teams record churn
        ),
    ),
    _Export(
        "contacts",
        "contacts.csv",
        ("contacts",),
        (
            _Column("Record ID", "external_id", "external_id"),
            _Column("First Name", "first_name", "first_name"),
            _Column("Last Name", "last_name", "last_name"),
            _Column("Email", "email", "email"),
            _Column("Phone Number", "phone", "phone"),
            _Column("Job Title", "job_title", "job_title"),
            _Column("Associated Company ID", "company_external_id", "company_external_id"),
            _Column("Lead Source", "lead_source", "lead_source"),
            _Column("Lead Status", "lead_status", "lead_status"),
            _Column("Lifecycle Stage", "lifecycle_stage", "lifecycle_stage"),
            _Column("Contact owner", "owner_email", "owner_email"),
            _Column("Unsubscribed from all email", "opted_out", "opted_out"),
            _Column("Create Date", "created_at", "remote_created_at"),
            _Column("Became a Customer Date", "converted_at", "converted_at"),
            _Column("Preferred language", "preferred_language"),
            _Column("Product interest", "product_interest"),
            _Column("Budget range", "budget_range"),
            _Column("Newsletter opens", "newsletter_opens"),
            _Column("Last Modified Date", "updated_at", "remote_updated_at"),
        ),
    ),
    _Export(
        "deals",
        "deals.csv",
        ("deals", "history_deals"),
        (
            _Column("Record ID", "external_id", "external_id"),
            _Column("Deal Name", "name", "name"),
            _Column("Associated Company ID", "company_external_id", "company_external_id"),
            _Column("Associated Contact ID", "contact_external_id", "contact_external_id"),
            _Column("Amount", "amount", "amount"),
            _Column("Currency", "currency", "currency"),
            _Column("Pipeline", "pipeline", "pipeline"),
            _Column("Deal Stage", "stage", "stage"),
            _Column("Deal Status", "status", "status"),
            _Column("Close Date", "close_date", "close_date"),
            _Column("Closed Date", "closed_at", "closed_at"),
            _Column("Create Date", "created_at", "remote_created_at"),
            _Column("Deal owner", "owner_email", "owner_email"),
            _Column("Last Modified Date", "updated_at", "remote_updated_at"),
        ),
    ),
    _Export(
        "activities",
        "activities.csv",
        ("activities", "deal_notes"),
        (
            _Column("Record ID", "external_id", "external_id"),
            _Column("Activity type", "kind", "kind"),
            _Column("Direction", "direction", "direction"),
            _Column("Subject", "subject", "subject"),
            _Column("Body", "body", "body"),
            _Column("Activity date", "occurred_at", "occurred_at"),
            _Column("Associated Contact ID", "contact_external_id", "contact_external_id"),
            _Column("Associated Company ID", "company_external_id", "company_external_id"),
            _Column("Associated Deal ID", "deal_external_id", "deal_external_id"),
        ),
    ),
)
MAPPING_FILE = "mapping.yaml"


def demo_mapping() -> dict[str, Any]:
    """The CSV connector mapping for the files `write_demo_csvs` writes (our field -> CSV header)."""
    objects: dict[str, Any] = {}
    for export in EXPORTS:
        spec: dict[str, Any] = {
            "file": export.file,
            "columns": {c.field: c.header for c in export.columns if c.field},
        }
        properties = [c.header for c in export.columns if not c.field]
        if properties:
            spec["properties"] = properties
        objects[export.object_type] = spec
    return {"encoding": "utf-8", "objects": objects}


def write_demo_csvs(*, crm: DemoCRM, folder: Path) -> Path:
    """Write the four CSVs and `mapping.yaml` into `folder`; returns the mapping file's path.

    Each file is replaced atomically and only when its bytes change, so a sync running meanwhile never
    reads half a file and re-writing the same data leaves the files untouched.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for export in EXPORTS:
        _write_if_changed(
            folder / export.file,
            _csv_bytes([row for name in export.rows for row in getattr(crm, name)], export.columns),
        )
    mapping_path = folder / MAPPING_FILE
    header = "# Written by salesai.demo: maps our fields (left) to the CSV headers (right).\n"
    _write_if_changed(mapping_path, (header + yaml.safe_dump(demo_mapping(), sort_keys=False)).encode("utf-8"))
    return mapping_path


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv_bytes(rows: Sequence[Any], columns: tuple[_Column, ...]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.header for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(getattr(row, c.attribute)) for c in columns])
    return buffer.getvalue().encode("utf-8")


def _write_if_changed(path: Path, content: bytes) -> None:
    if path.exists() and path.read_bytes() == content:
        return
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
