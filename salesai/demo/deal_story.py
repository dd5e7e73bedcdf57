"""The deal story: point-in-time deal histories for the demo, a second pipeline, teams, currencies, and a held-out
future (pure Python + numpy, no ORM).

It draws only from its own random streams (DEAL_STREAM mixed into the seed), after the lead and churn stories
drew everything they draw, so the contacts, companies, activities and the lead story's deals are identical with
or without it: the lead and churn models see the same data.

Two kinds of deals:

- the lead story's deals (won when their contact converted, lost, or open) get a history that ends in the state
  they already have: stages advancing through the pipeline, close dates pushed, amounts revised;
- `history_deals` more deals over DEAL_HISTORY_DAYS (about 30 months), simulated as a process: a hidden `quality`
  (plus the owner's skill) sets the odds of advancing out of each stage; weak deals dwell longer and their close
  dates slip more; the reps' notes on the deal say how it goes, with noise. They belong to no company or contact
  (partner- and channel-sourced opportunities), so the churn story's customers and features stay as they were.

What happens after `now` is never visible CRM state: a deal still open at `now` shows its state at `now`, and its
eventual outcome goes to `DemoCRM.deal_future` (written apart from the CRM export by `write_demo_holdout`).
Bad input on purpose: some deals have no amount or no close date, some open deals have a close date in the past,
a few are in a currency without a stored rate (UNRATED_CURRENCY).
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from salesai.demo import vocabulary as vocab

DEAL_STREAM = 0xDEA1  # mixed into the seed: the deal story's own random stream
DEAL_HISTORY_DAYS = 900
LEAD_STORY_DAYS = 365  # the lead story's deals all fall in its last year (generator.HISTORY_DAYS)
RECENT_SPLIT = 0.65  # share of the history deals created before that year
BASE_CURRENCY = "EUR"
# One unit of the currency in the base currency (stored as CurrencyRate rows, valid from the start of history).
CURRENCY_RATES = {"USD": 0.92, "GBP": 1.17}
UNRATED_CURRENCY = "CHF"  # a handful of deals: no stored rate, so they have no base amount (never summed)

# (stage, the CRM's default win probability): what a stage-weighted pipeline multiplies amounts by.
SALES_STAGES = (
    ("Appointment scheduled", 0.2),
    ("Qualified to buy", 0.4),
    ("Presentation scheduled", 0.6),
    ("Decision maker bought-in", 0.8),
    ("Contract sent", 0.9),
)
PARTNER_PIPELINE = "Partner Channel"
PARTNER_STAGES = (
    ("Partner registered", 0.1),
    ("Joint discovery", 0.3),
    ("Solution proposed", 0.5),
    ("Partner commit", 0.75),
)
PARTNER_WON, PARTNER_LOST = "Partner won", "Partner lost"
PIPELINES: dict[str, tuple[tuple[tuple[str, float], ...], str, str]] = {
    vocab.DEAL_PIPELINE: (SALES_STAGES, vocab.WON_STAGE, vocab.LOST_STAGE),
    PARTNER_PIPELINE: (PARTNER_STAGES, PARTNER_WON, PARTNER_LOST),
}
TEAMS = {
    "lena.hoffmann@demo.salesai.example": "DACH",
    "tom.becker@demo.salesai.example": "DACH",
    "jonas.lindqvist@demo.salesai.example": "DACH",
    "marcus.reed@demo.salesai.example": "International",
    "sofia.alvarez@demo.salesai.example": "International",
    "priya.nair@demo.salesai.example": "International",
}
_SKILL = {rep: (index - 2.5) * 0.12 for index, rep in enumerate(vocab.REPS)}

_GOOD_NOTES = (
    "Champion confirmed the budget is approved for this quarter.",
    "Legal review of the order form started; procurement asked for the W-9.",
    "The economic buyer joined the call and asked about rollout dates.",
    "Pilot users are active every day; they want the full rollout.",
    "They asked for the security questionnaire and references.",
    "Verbal yes from the VP, paperwork next week.",
)
_BAD_NOTES = (
    "No reply to the last three emails.",
    "They went quiet after the demo; the champion left the company.",
    "Budget frozen until next fiscal year.",
    "They are also evaluating {competitor}, who is cheaper.",
    "Decision pushed again; no date for the next meeting.",
    "Procurement says this is not a priority this quarter.",
)
_NEUTRAL_NOTES = (
    "Sent the recap of the discovery call and the pricing sheet.",
    "Scheduled a follow-up with the wider team.",
    "Shared the case study they asked for.",
    "Updated the mutual action plan.",
)


@dataclass(slots=True)
class DemoDealChange:
    """One change of a tracked deal field, as a CRM's field history records it (all before `now`)."""

    deal_external_id: str
    field: str
    old_value: str
    new_value: str
    changed_at: datetime


@dataclass(slots=True)
class DemoDealOutcome:
    """How a deal open at `now` ends: never visible CRM state, for backtests and benchmarks only."""

    deal_external_id: str
    status: str  # won / lost
    closed_at: datetime
    amount: int | None
    currency: str


@dataclass(slots=True)
class DemoStage:
    pipeline: str
    stage: str
    display_order: int
    probability: float
    is_closed: bool
    is_won: bool


def pipeline_stages() -> list[DemoStage]:
    stages = []
    for pipeline, (open_stages, won, lost) in PIPELINES.items():
        for order, (stage, probability) in enumerate(open_stages):
            stages.append(DemoStage(pipeline, stage, order, probability, False, False))
        stages.append(DemoStage(pipeline, won, len(open_stages), 1.0, True, True))
        stages.append(DemoStage(pipeline, lost, len(open_stages) + 1, 0.0, True, False))
    return stages


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _History:
    """Collects one deal's changes; values are kept only when they differ from the last one."""

    def __init__(self, external_id: str) -> None:
        self.external_id = external_id
        self.current: dict[str, str] = {}
        self.changes: list[DemoDealChange] = []

    def set(self, field: str, value: Any, at: datetime) -> None:
        new = _text(value)
        old = self.current.get(field, "")
        if new == old and field in self.current:
            return
        self.current[field] = new
        if new != old:
            self.changes.append(DemoDealChange(self.external_id, field, old, new, _minute(at)))


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _weekday(at: datetime) -> datetime:
    return at + timedelta(days=7 - at.weekday()) if at.weekday() >= 5 else at


class DealStory:
    def __init__(self, *, seed: int, now: datetime) -> None:
        self.now = now
        self.rng = np.random.default_rng([seed, DEAL_STREAM])
        self.rnd = random.Random(seed * 1_000_003 + DEAL_STREAM)
        self.history: list[DemoDealChange] = []
        self.future: list[DemoDealOutcome] = []

    # The lead story's deals ----------------------------------------------------------------------------------

    def lead_deal_history(self, deal: Any, *, pending_buyer: bool) -> None:
        """A history ending in the state `deal` (a DemoDeal) already has; for an open deal, its future outcome."""
        rnd = self.rnd
        stages, won_stage, lost_stage = PIPELINES[vocab.DEAL_PIPELINE]
        names = [stage for stage, _ in stages]
        start = deal.created_at
        end = deal.closed_at or self.now
        if deal.status == "won":
            reached = len(names) - 1
        elif deal.status == "lost":
            reached = rnd.randrange(len(names))
        else:
            reached = names.index(deal.stage) if deal.stage in names else 0
        history = _History(deal.external_id)
        history.set("pipeline", deal.pipeline, start)
        history.set("owner_email", deal.owner_email, start)
        history.set("currency", deal.currency, start)
        first_amount = deal.amount if rnd.random() < 0.7 else int(round(deal.amount * rnd.uniform(0.7, 1.3), -2))
        history.set("amount", first_amount, start)
        history.set("status", "open", start)
        history.set("stage", names[0], start)
        span = life = end - start
        if deal.status == "open":
            # The future follows the same pace as the past: now falls between two moves of a life that ends at its
            # close (a quick history means a near close, as for the deals already closed).
            chance = 0.85 if pending_buyer else 0.15 + 0.1 * reached
            won = rnd.random() < chance
            total = len(names) - 1 if won else rnd.randint(reached, len(names) - 1)
            moves = sorted(rnd.random() for _ in range(total))
            lo = moves[reached - 1] if reached else 0.0
            hi = moves[reached] if reached < total else 0.95 / 0.85  # past the last move: until the close itself
            life = span / (0.05 + 0.85 * rnd.uniform(lo, hi))
            closes = _minute(max(start + life, self.now + timedelta(days=1)))
            self.future.append(
                DemoDealOutcome(deal.external_id, "won" if won else "lost", closes, deal.amount, deal.currency)
            )
            moves = moves[:reached]
        else:
            moves = sorted(rnd.random() for _ in range(reached))
        for step, fraction in enumerate(moves, start=1):
            at = start + life * (0.05 + 0.85 * fraction)
            history.set("stage", names[step], at)
            if step == reached and first_amount != deal.amount:
                history.set("amount", deal.amount, at)
        if first_amount != deal.amount and history.current["amount"] != str(deal.amount):
            history.set("amount", deal.amount, start + span * 0.5)
        # Close dates: a first estimate, pushed each time it passes while the deal is in play.
        first = (start + timedelta(days=rnd.uniform(30, 80))).date()
        estimate = first
        pushes: list[tuple[datetime, date]] = []
        while estimate < deal.close_date:
            due = datetime.combine(estimate, datetime.min.time(), start.tzinfo) + timedelta(days=rnd.uniform(0, 4))
            if due >= end:
                break
            estimate = min(estimate + timedelta(days=rnd.randrange(14, 45)), deal.close_date)
            pushes.append((due, estimate))
        if deal.status == "open":  # what the CRM shows today is the last estimate
            if pushes:
                pushes[-1] = (pushes[-1][0], deal.close_date)
            else:
                first = deal.close_date
        history.set("close_date", first, start)
        for due, value in pushes:
            history.set("close_date", value, due)
        if deal.status != "open":
            history.set("close_date", deal.close_date, end)
        if deal.status != "open":
            history.set("stage", won_stage if deal.status == "won" else lost_stage, end)
            history.set("status", deal.status, end)
        self.history.extend(history.changes)

    # The history deals -----------------------------------------------------------------------------------------

    def history_deals(self, count: int, *, first_id: int) -> list[dict[str, Any]]:
        """`count` simulated deals as DemoDeal keyword arguments (state at `now`), their history and future."""
        rng, rnd = self.rng, self.rnd
        now = self.now
        # Most of them before the lead story's year (which brings its own deals), more of them lately: the team grew.
        older = rng.random(count) < RECENT_SPLIT
        span = DEAL_HISTORY_DAYS - LEAD_STORY_DAYS
        ages = np.where(
            older, LEAD_STORY_DAYS + span * (1 - rng.power(1.5, count)), LEAD_STORY_DAYS * (1 - rng.power(1.5, count))
        )
        ages = np.sort(ages)[::-1]
        quality = rng.normal(0, 1, count)
        rows = []
        for index in range(count):
            created = _weekday(now - timedelta(days=float(ages[index]) + 0.5))
            created = created.replace(hour=rnd.randrange(8, 18), minute=rnd.randrange(60), second=0, microsecond=0)
            if created >= now:
                created = now - timedelta(hours=1)
            rows.append(self._simulate(str(first_id + index), created, float(quality[index])))
        return rows

    def _simulate(self, external_id: str, created: datetime, quality: float) -> dict[str, Any]:
        rnd, now = self.rnd, self.now
        pipeline = PARTNER_PIPELINE if rnd.random() < 0.3 else vocab.DEAL_PIPELINE
        stages, won_stage, lost_stage = PIPELINES[pipeline]
        owner = rnd.choice(vocab.REPS)
        strength = quality + _SKILL[owner]
        roll = rnd.random()
        currency = "USD" if roll < 0.25 else "GBP" if roll < 0.33 else UNRATED_CURRENCY if roll < 0.345 else "EUR"
        amount: int | None = int(round(rnd.lognormvariate(math.log(18_000), 0.8), -2)) + 500
        if pipeline == PARTNER_PIPELINE:
            amount = int(amount * 1.4)
        product = rnd.choice(vocab.PRODUCTS)
        name = f"{rnd.choice(vocab.COMPANY_STEMS)} {rnd.choice(('Group', 'Labs', 'Systems', 'Works'))} - {product}"
        cycle = rnd.uniform(45, 110) * (1.3 if pipeline == PARTNER_PIPELINE else 1.0)
        close_estimate: date | None = (created + timedelta(days=cycle)).date()
        no_amount, no_close = rnd.random() < 0.04, rnd.random() < 0.04
        # Some reps stop updating a weak deal's close date: today's open deals with a close date in the past.
        neglected = rnd.random() < 0.2 - 0.1 * max(min(strength, 1.0), -1.0)

        events: list[tuple[datetime, str, Any]] = [
            (created, "pipeline", pipeline),
            (created, "owner_email", owner),
            (created, "currency", currency),
            (created, "amount", None if no_amount else amount),
            (created, "status", "open"),
            (created, "stage", stages[0][0]),
            (created, "close_date", None if no_close else close_estimate),
        ]
        notes: list[tuple[datetime, str]] = []
        at = created
        status, closed_at = "open", None
        for step in range(len(stages)):
            # Weak deals dwell longer in each stage.
            dwell = timedelta(days=rnd.lognormvariate(math.log(14 * (1.25 - 0.15 * strength)), 0.5) + 1)
            stage_end = at + dwell
            # Notes while in the stage: what they say follows the deal's strength, with noise.
            for _ in range(rnd.choice((0, 1, 1, 2))):
                moment = at + dwell * rnd.random()
                signal = strength + rnd.gauss(0, 1.0)
                kind = _GOOD_NOTES if signal > 0.6 else _BAD_NOTES if signal < -0.6 else _NEUTRAL_NOTES
                notes.append((moment, rnd.choice(kind).format(competitor=rnd.choice(vocab.COMPETITORS))))
            # The close date slips when it passes while the deal is still in play; weak deals slip more.
            while close_estimate is not None and not no_close:
                due = datetime.combine(close_estimate, datetime.min.time(), created.tzinfo)
                if due >= stage_end:
                    break
                if neglected:
                    break
                close_estimate = close_estimate + timedelta(days=rnd.randrange(14, 50))
                events.append((max(due, at) + timedelta(days=rnd.uniform(0, 4)), "close_date", close_estimate))
            if amount is not None and not no_amount and rnd.random() < 0.15:
                amount = int(round(amount * rnd.uniform(0.75, 1.3), -2)) + 100
                events.append((at + dwell * 0.5, "amount", amount))
            if rnd.random() < 0.03:
                owner = rnd.choice(vocab.REPS)
                events.append((at + dwell * 0.3, "owner_email", owner))
            at = stage_end
            base = 1.0 - 0.15 * (step + 1) / len(stages)
            advance = 1 / (1 + math.exp(-(2.2 * base + 1.1 * strength - 0.4)))
            if rnd.random() >= advance:
                status, closed_at = "lost", at
                events += [(at, "stage", lost_stage), (at, "status", "lost")]
                break
            if step + 1 < len(stages):
                events.append((at, "stage", stages[step + 1][0]))
        else:
            status, closed_at = "won", at
            events += [(at, "stage", won_stage), (at, "status", "won")]
        if closed_at is not None:
            closed_at = _minute(closed_at)
            if not no_close:
                events.append((closed_at, "close_date", closed_at.date()))
        events = [(_minute(moment), field, value) for moment, field, value in events]

        history = _History(external_id)
        state: dict[str, Any] = {}
        for moment, field, value in sorted(events, key=lambda event: event[0]):  # stable: same-moment order kept
            if moment > now:
                continue
            history.set(field, value, moment)
            state[field] = value
        self.history.extend(history.changes)
        visible_status = state["status"]
        if visible_status == "open" and closed_at is not None:
            self.future.append(DemoDealOutcome(external_id, status, closed_at, amount, currency))
        last_change = max(change.changed_at for change in history.changes)
        return {
            "external_id": external_id,
            "company_external_id": "",
            "contact_external_id": "",
            "name": name,
            "amount": state["amount"],
            "currency": currency,
            "pipeline": pipeline,
            "stage": state["stage"],
            "status": visible_status,
            "close_date": state["close_date"],
            "created_at": created,
            "updated_at": last_change,
            "owner_email": state["owner_email"],
            "closed_at": closed_at if visible_status != "open" else None,
            "deal_story": True,
            "notes": [(moment, text) for moment, text in notes if moment <= now],
        }


# --- The held-out future, written apart from the CRM export ---------------------------------------------------

FUTURE_FILE = "deal_future.csv"
_FUTURE_HEADER = ("deal_external_id", "status", "closed_at", "amount", "currency")


def write_deal_future(*, outcomes: list[DemoDealOutcome], path: Path) -> Path:
    """The outcomes of the deals open at `now` as CSV (for backtests and benchmarks; never synced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_FUTURE_HEADER)
    for outcome in outcomes:
        writer.writerow(
            (
                outcome.deal_external_id,
                outcome.status,
                outcome.closed_at.isoformat(timespec="seconds"),
                "" if outcome.amount is None else outcome.amount,
                outcome.currency,
            )
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def read_deal_future(*, path: Path) -> list[DemoDealOutcome]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            DemoDealOutcome(
                deal_external_id=row["deal_external_id"],
                status=row["status"],
                closed_at=datetime.fromisoformat(row["closed_at"]),
                amount=int(row["amount"]) if row["amount"] else None,
                currency=row["currency"],
            )
            for row in csv.DictReader(handle)
        ]
