"""The deterministic writer: a plain, correct email per intent x tone x length, built only from facts.

It is the last resort of the pipeline, so it obeys the claim policy by construction: every sentence it writes
carries the ids of the facts it states and is kept only if the verifier (`claims`) passes it against exactly
those facts; the others are courtesy or a call to action that claims nothing. It never states a deal stage
without citing it, and keeps one currency per draft: the first amount it states sets the currency, a later
amount in another currency is converted with a stored rate fact ("fx.USD.EUR", 1 USD in EUR) when the sheet
has one, and left out otherwise. Optional sentences are dropped when their facts are missing or the length
budget is spent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ml.engine.emailgen.claims import VerifyContext, sentence_verify, verify_context_build
from ml.engine.emailgen.courtesy import DEFAULT_COURTESY
from ml.engine.emailgen.guardrails import (
    BODY_HARD_MAX_CHARS,
    BODY_MAX_CHARS,
    PLACEHOLDER_RES,
    SUBJECT_MAX_CHARS,
    FactIndex,
    claim_ground,
    claims_extract,
    fact_index_build,
)
from ml.engine.emailgen.types import DraftOptions, DraftSentence, FactSheet

VALUE_MAX_CHARS = 80  # longer values (long deal names, subjects) read badly inside a sentence

GREETINGS = {
    "friendly": ("Hi {first},", "Hi there,"),
    "formal": ("Dear {full},", "Hello,"),
    "direct": ("{first},", "Hello,"),
}
SIGN_OFFS = {"friendly": "Best,", "formal": "Kind regards,", "direct": "Thanks,"}
SENTENCE_BUDGET = {"short": 3, "medium": 5, "long": 7}  # sentences between greeting and sign-off


@dataclass
class Facts:
    """Readable access to the values the composer may use (None when missing or unusable)."""

    values: dict[str, str]
    rates: dict[str, Decimal] = field(default_factory=dict)  # "fx.USD.EUR" -> EUR per USD

    @classmethod
    def from_sheet(cls, fact_sheet: FactSheet) -> Facts:
        values: dict[str, str] = {}
        rates: dict[str, Decimal] = {}
        for fact in fact_sheet.facts:
            if fact.trusted and fact.kind == "rate" and fact.raw is not None:
                rates[fact.id] = Decimal(str(fact.raw))
            elif fact.trusted and _usable(fact.value):
                values.setdefault(fact.id, fact.value.strip())
        for fact_id, value in (
            ("contact.first_name", fact_sheet.contact_first_name),
            ("contact.full_name", fact_sheet.contact_name),
            ("company.name", fact_sheet.company_name),
            ("sender.name", fact_sheet.sender_name),
            ("organization.name", fact_sheet.organization_name),
        ):
            if _usable(value or ""):
                values.setdefault(fact_id, value.strip())
        return cls(values, rates)

    def rate(self, rate_id: str) -> Decimal | None:
        return self.rates.get(rate_id)

    def get(self, fact_id: str) -> str | None:
        return self.values.get(fact_id)

    def group(self, prefix: str) -> list[dict[str, str]]:
        """Facts "prefix.<n>.<field>" grouped per <n>, in listing order: [{"name": ..., "amount": ...}], each
        with "id" = "prefix.<n>" (so `id + ".amount"` is the fact to cite). Activities are listed most recent
        first, so the first group is the latest one."""
        groups: dict[str, dict[str, str]] = {}
        for fact_id, value in self.values.items():
            m = re.fullmatch(rf"{re.escape(prefix)}\.([^.]+)\.(\w+)", fact_id)
            if m:
                groups.setdefault(m[1], {"id": f"{prefix}.{m[1]}"})[m[2]] = value
        return list(groups.values())


def _usable(value: str) -> bool:
    value = value.strip()
    return (
        bool(value)
        and len(value) <= VALUE_MAX_CHARS
        and "\n" not in value
        and value.lower() != "none"
        and not any(p.search(value) for p in PLACEHOLDER_RES)
    )


@dataclass(frozen=True)
class Candidate:
    """A sentence the composer may write: its text (with "{amount}" where an amount goes) and what it cites."""

    template: str
    fact_ids: tuple[str, ...] = ()
    amount_id: str = ""  # the amount fact rendered into "{amount}", in the draft's currency


@dataclass(frozen=True)
class ComposedDraft:
    subject: str
    body: str  # ends with the compliance footer
    sentences: tuple[DraftSentence, ...]  # the message's sentences with their citations (frame excluded)


class Money:
    """One currency per draft: the first amount sets it; later ones are converted with a rate fact, or None."""

    def __init__(self, index: FactIndex, facts: Facts) -> None:
        self.amounts = {fid: (value, currency) for value, kind, currency, fid in index.numbers if kind == "amount"}
        self.facts = facts
        self.currency = ""

    def render(self, amount_id: str) -> tuple[str, tuple[str, ...]] | None:
        """(display text, extra fact ids to cite) for the amount in the draft's currency."""
        if amount_id not in self.amounts:
            return None
        value, currency = self.amounts[amount_id]
        if not self.currency or not currency or currency == self.currency:
            return self.facts.get(amount_id) or "", ()
        rate_id = f"fx.{currency}.{self.currency}"
        rate = self.facts.rate(rate_id)
        if rate is None:
            return None  # a second currency without a stored rate: the figure is left out
        return f"{self.currency} {value * rate:,.0f}", (rate_id,)

    def commit(self, amount_id: str) -> None:
        if not self.currency and amount_id in self.amounts:
            self.currency = self.amounts[amount_id][1]


def draft_compose(*, fact_sheet: FactSheet, options: DraftOptions) -> tuple[str, str]:
    """(subject, body) where body ends with the compliance footer."""
    composed = composer_draft(fact_sheet=fact_sheet, options=options)
    return composed.subject, composed.body


def composer_draft(
    *, fact_sheet: FactSheet, options: DraftOptions, courtesy: Sequence[re.Pattern] = DEFAULT_COURTESY
) -> ComposedDraft:
    """The composer's draft with each sentence's citations."""
    facts = Facts.from_sheet(fact_sheet)
    index = fact_index_build(fact_sheet)
    title = fact_sheet.fact("contact.job_title")
    context = verify_context_build(
        index=index,
        company_name=fact_sheet.company_name,
        job_title=title.value if title is not None and title.trusted else "",
        organization_name=fact_sheet.organization_name,
        courtesy=courtesy,
    )
    tone = options.tone if options.tone in GREETINGS else "friendly"
    length = options.length if options.length in SENTENCE_BUDGET else "short"

    subject = next(
        (
            s
            for s in _subjects(facts, options.intent)
            if len(s) <= SUBJECT_MAX_CHARS and _verified(DraftSentence(s), context, auto=True)
        ),
        "A quick note",
    )
    greeting = composer_greeting(fact_sheet=fact_sheet, tone=tone)
    sender = facts.get("sender.name")
    sign_off = SIGN_OFFS[tone] + (f"\n{sender}" if sender and sentence_grounded(sender, index) else "")

    limit = min(BODY_MAX_CHARS[length], BODY_HARD_MAX_CHARS) - len(greeting) - len(sign_off) - 8
    core, extra, closing = _sentences(facts, options.intent, tone)
    money = Money(index, facts)
    kept: list[DraftSentence] = []
    used = 0
    for candidate in [*core, *extra][: SENTENCE_BUDGET[length]]:
        sentence = _rendered(candidate, money)
        if sentence is None or used + len(sentence.text) + 1 > limit - len(closing):
            continue
        if _verified(sentence, context, auto=False):
            kept.append(sentence)
            money.commit(candidate.amount_id)
            used += len(sentence.text) + 1
    closing_sentence = DraftSentence(closing)
    if _verified(closing_sentence, context, auto=False):
        kept_closing = [closing_sentence]
    else:
        kept_closing = []
    paragraphs = [greeting, " ".join(s.text for s in kept), *(s.text for s in kept_closing), sign_off]
    body = "\n\n".join(p for p in paragraphs if p)
    return ComposedDraft(
        subject=subject,
        body=body_with_footer(body=body, fact_sheet=fact_sheet),
        sentences=(*kept, *kept_closing),
    )


def _rendered(candidate: Candidate, money: Money) -> DraftSentence | None:
    if not candidate.template:
        return None
    text, ids = candidate.template, candidate.fact_ids
    if candidate.amount_id:
        rendered = money.render(candidate.amount_id)
        if rendered is None:
            return None
        text, ids = text.replace("{amount}", rendered[0]), (*ids, *rendered[1])
    return DraftSentence(re.sub(r"\.\.$", ".", text), ids)  # "… for Acme Inc.." reads as a typo


def _verified(sentence: DraftSentence, context: VerifyContext, *, auto: bool) -> bool:
    if any(p.search(sentence.text) for p in PLACEHOLDER_RES):
        return False
    verdict = sentence_verify(text=sentence.text, fact_ids=None if auto else sentence.fact_ids, context=context)
    return not verdict.violations


def sentence_grounded(text: str, index: FactIndex) -> bool:
    """True when every claim in `text` matches a trusted fact and it holds no placeholder."""
    if any(p.search(text) for p in PLACEHOLDER_RES):
        return False
    return all(claim_ground(claim, index) for claim in claims_extract(text))


def composer_greeting(*, fact_sheet: FactSheet, tone: str) -> str:
    """The greeting line for `tone`, with the contact's name when the facts have a usable one."""
    index = fact_index_build(fact_sheet)
    candidates = _greetings(Facts.from_sheet(fact_sheet), tone if tone in GREETINGS else "friendly")
    return next((c for c in candidates if sentence_grounded(c, index)), None) or "Hello,"


def body_with_footer(*, body: str, fact_sheet: FactSheet) -> str:
    footer = fact_sheet.footer.render()
    return f"{body.rstrip()}\n\n{footer}" if footer else body.rstrip()


def _greetings(facts: Facts, tone: str) -> list[str]:
    named, anonymous = GREETINGS[tone]
    first = facts.get("contact.first_name")
    full = facts.get("contact.full_name") or first
    out = []
    if first or full:
        out.append(named.format(first=first or full, full=full or first))
    return [*out, anonymous]


def _subjects(facts: Facts, intent: str) -> list[str]:
    company, org = facts.get("company.name"), facts.get("organization.name")
    deal = (facts.group("deal") or [{}])[0]
    meeting = _last_meeting(facts)
    options = {
        "first_touch": [f"An idea for {company}" if company else "", f"Hello from {org}" if org else ""],
        "meeting_follow_up": [
            f"Following up: {meeting['subject']}" if meeting.get("subject") else "",
            f"Following up on our {meeting['kind']} on {meeting['date']}" if meeting.get("date") else "",
            "Following up",
        ],
        "deal_nudge": [f"Checking in on {deal['name']}" if deal.get("name") else "", "Checking in"],
        "renewal": [f"Your renewal with {org}" if org else "", "Your renewal"],
        "win_back": [f"Catching up with {company}" if company else "", "Catching up"],
    }
    return [s for s in options.get(intent, []) if s] + ["A quick note"]


def _last_meeting(facts: Facts) -> dict[str, str]:
    # Notes and tasks are internal: "our last note" means nothing to the contact.
    activities = [
        a for a in facts.group("activity") if a.get("date") and a.get("kind", "").lower() not in ("note", "task")
    ]
    meetings = [a for a in activities if a.get("kind", "").lower() in ("meeting", "call")]
    found = (meetings or activities or [{}])[0]
    return {**found, "kind": found.get("kind", "conversation").lower()}


def _ids(group: dict[str, str], *fields: str) -> tuple[str, ...]:
    return tuple(f"{group['id']}.{name}" for name in fields if group.get(name))


def _sentences(facts: Facts, intent: str, tone: str) -> tuple[list[Candidate], list[Candidate], str]:
    """(core sentences, optional extras, closing question) for one intent."""
    company = facts.get("company.name")
    org = facts.get("organization.name")
    title = facts.get("contact.job_title")
    location = facts.get("company.location")
    deal = (facts.group("deal") or [{}])[0]
    meeting = _last_meeting(facts)
    products = [p for p in facts.group("product") if p.get("name")]
    product = products[0] if products else {}

    none = Candidate("")
    product_line = (
        Candidate(
            f"Our {product['name']} may be a good fit{' for ' + company if company else ''}.",
            (*_ids(product, "name"), *(("company.name",) if company else ())),
        )
        if product
        else none
    )
    price_line = (
        Candidate(
            f"For reference, the list price of {product['name']} is {{amount}}.",
            _ids(product, "name", "price"),
            amount_id=f"{product['id']}.price",
        )
        if product.get("price")
        else none
    )
    context = [
        Candidate(
            f"As {title}{' at ' + company if company else ''}, you see first-hand how your team works.",
            ("contact.job_title", *(("company.name",) if company else ())),
        )
        if title
        else none,
        Candidate(f"I know your team is based in {location}.", ("company.location",)) if location else none,
    ]
    deal_bits = _deal_sentences(deal)
    ask = {
        "friendly": "Would you be up for a short call?",
        "formal": "Would you be available for a short call to discuss this?",
        "direct": "Can we set up a short call?",
    }[tone]

    if intent == "meeting_follow_up":
        core = [
            Candidate(f"Thank you for the {meeting['kind']} on {meeting['date']}.", _ids(meeting, "kind", "date"))
            if meeting.get("date")
            else Candidate("Thank you for your time."),
            Candidate(
                f"I wanted to follow up on {_quoted(meeting['subject'])} while it is fresh.",
                _ids(meeting, "subject", "kind"),
            )
            if meeting.get("subject")
            else Candidate("I wanted to follow up on where things stand."),
            *deal_bits[:1],
        ]
        closing = {
            "friendly": "What would be a good next step for you?",
            "formal": "Please let me know how you would like to proceed.",
            "direct": "What is the next step on your side?",
        }[tone]
        return core, [*deal_bits[1:], product_line, *context], closing
    if intent == "deal_nudge":
        core = deal_bits or [Candidate("I wanted to check in on where things stand.")]
        closing = {
            "friendly": "Is there anything I can do to help move things forward?",
            "formal": "Please let me know if there is anything you need from us.",
            "direct": "What do you need from me to move forward?",
        }[tone]
        return core, [product_line, price_line, *context], closing
    if intent == "renewal":
        core = [
            Candidate(
                f"I'm reaching out about the renewal of {_possessive(company)} account with {org}.",
                ("company.name", "organization.name"),
            )
            if company and org
            else Candidate("I'm reaching out about your upcoming renewal."),
            *deal_bits[:2],
        ]
        closing = {
            "friendly": "Could we find time to go over the renewal together?",
            "formal": "Would you be available to review the renewal with me?",
            "direct": "When can we review the renewal?",
        }[tone]
        return core, [*deal_bits[2:], product_line, price_line, *context], closing
    if intent == "win_back":
        core = [
            Candidate("I would like to reconnect."),
            Candidate(f"Our last {meeting['kind']} was on {meeting['date']}.", _ids(meeting, "kind", "date"))
            if meeting.get("date")
            else none,
            Candidate(
                f"I would like to understand what {company} needs today and whether {org} can help.",
                ("company.name", "organization.name"),
            )
            if company and org
            else Candidate("I would like to understand what your team needs today."),
        ]
        closing = {
            "friendly": "Would you be open to catching up?",
            "formal": "Would you be open to a brief conversation?",
            "direct": "Is it worth a short call?",
        }[tone]
        return core, [product_line, *context, price_line], closing
    # first_touch (and anything unknown)
    core = [
        Candidate(f"I'm reaching out from {org}.", ("organization.name",))
        if org
        else Candidate("I'm reaching out to introduce myself."),
        product_line
        if product
        else (
            Candidate(f"I would like to learn how {company} handles its sales process.", ("company.name",))
            if company
            else none
        ),
    ]
    return core, [*context, price_line], ask


def _deal_sentences(deal: dict[str, str]) -> list[Candidate]:
    if not deal.get("name"):
        return []
    out = [Candidate(f"I wanted to check in on {_quoted(deal['name'])}.", _ids(deal, "name"))]
    if deal.get("stage"):
        out.append(Candidate(f"It is currently at the {_quoted(deal['stage'])} stage.", _ids(deal, "name", "stage")))
    if deal.get("amount"):
        out.append(Candidate("The current amount is {amount}.", _ids(deal, "amount"), amount_id=f"{deal['id']}.amount"))
    if deal.get("close_date"):
        out.append(Candidate(f"The expected close date is {deal['close_date']}.", _ids(deal, "close_date")))
    return out


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _quoted(value: str) -> str:
    return f"“{value}”"
